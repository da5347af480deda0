import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { checkChannelSecrets, clientCertificateWarnings } from "../../src/change/check-secrets.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { UpstreamClientDefinition } from "../../src/definition/client-types.ts";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { ManualClock } from "../../src/memory/manual-clock.ts";
import { platform } from "../support/crypto/test-keys.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");
const notAfter = Date.UTC(2027, 2, 1);

/** A self-signed certificate of the platform's test key that expires on 2027-03-01. */
function caCertificate(commonName = "Bank Test CA"): string {
  const key = forge.pki.privateKeyFromPem(platform.pkcs1Pem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.UTC(2026, 0, 1));
  cert.validity.notAfter = new Date(notAfter);
  const attrs = [{ name: "commonName", value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

const channel = (tls: ChannelDefinition["tls"], keys: Record<string, unknown> = {}) =>
  ({
    code: "bank",
    name: "Bank",
    baseUrl: "https://bank.test",
    timeZone: "Asia/Shanghai",
    crypto: { handler: "configurable", options: { keys } },
    interfaces: {},
    ...(tls ? { tls } : {}),
  }) as ChannelDefinition;

describe("checking a channel's keys and certificates before a push", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-secrets-"));
    await writeFile(join(dir, "bank-ca.pem"), caCertificate());
  });

  const check = (definition: ChannelDefinition, now: number) =>
    checkChannelSecrets([{ file: "bank.channel.json", definition }], {
      cryptoHandlers: createCryptoHandlerRegistry(),
      secrets: createDefaultSecretResolver(),
      baseDir: dir,
      clock: new ManualClock(now),
    });

  test("a reference that does not resolve is a problem naming it", async () => {
    const problems = await check(
      channel(undefined, { secret: { ref: "file:keys/absent.key" } }),
      0,
    );
    expect(problems).toEqual([
      expect.objectContaining({ code: "secret-unresolved", pointer: "/crypto" }),
    ]);
    expect(problems[0]?.message).toContain("file:keys/absent.key");
    expect(
      await check(channel({ ca: ["env:CAPFLOW_TEST_UNSET_CA"] }), 0).then((p) =>
        p.map((x) => x.code),
      ),
    ).toEqual(["secret-unresolved"]);
  });

  test("a certificate expiring within 30 days is a warning; one expired says so; later ones pass", async () => {
    const tls = { ca: ["file:bank-ca.pem"] };
    expect(await check(channel(tls), notAfter - 40 * 86_400_000)).toEqual([]);
    const soon = await check(channel(tls), notAfter - 10 * 86_400_000);
    expect(soon).toEqual([
      expect.objectContaining({
        code: "certificate-expiring",
        severity: "warning",
        pointer: "/tls/ca/0",
      }),
    ]);
    expect(soon[0]?.message).toContain("expires on 2027-03-01T00:00:00.000Z, in 10 days");
    const late = await check(channel(tls), notAfter + 86_400_000);
    expect(late[0]?.message).toContain("expired on 2027-03-01");
  });

  test("a signing key's certificate and the trust anchors are checked for expiry too", async () => {
    await writeFile(join(dir, "platform.key"), platform.privatePem);
    const keys = {
      signing: { ref: "file:platform.key", certificate: "file:bank-ca.pem" },
      verifying: [{ ref: "file:bank-ca.pem" }],
      trust: { anchors: [{ ref: "file:bank-ca.pem" }] },
    };
    const problems = await check(channel(undefined, keys), notAfter - 10 * 86_400_000);
    expect(problems.filter((p) => p.code === "certificate-expiring").map((p) => p.pointer)).toEqual(
      [
        "/crypto/options/keys/signing/certificate",
        "/crypto/options/keys/verifying/0/ref",
        "/crypto/options/keys/trust/anchors/0/ref",
      ],
    );
    expect(problems.filter((p) => p.code !== "certificate-expiring")).toEqual([]);
  });
});

describe("checking an upstream client's signature key for expiry", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-client-secrets-"));
    await writeFile(join(dir, "platform.pem"), caCertificate("Platform 2026"));
    await writeFile(join(dir, "platform-key.pem"), platform.publicPem);
  });

  const client = (signature: UpstreamClientDefinition["signature"]): UpstreamClientDefinition => ({
    id: "platform",
    signature,
    allowedIps: ["10.0.0.0/8"],
    allow: { behaviors: ["lanbank/*"] },
  });
  const check = (definition: UpstreamClientDefinition, now: number, expiryWarning?: string) =>
    clientCertificateWarnings(definition, "platform.client.json", {
      secrets: createDefaultSecretResolver(),
      baseDir: dir,
      clock: new ManualClock(now),
      ...(expiryWarning === undefined ? {} : { expiryWarning }),
    });
  const certificateClient = client({ algorithm: "rsa-sha256", key: { ref: "file:platform.pem" } });

  test("a key given as a certificate expiring within the window is a warning naming the client", async () => {
    expect(await check(certificateClient, notAfter - 40 * 86_400_000)).toEqual([]);
    expect(await check(certificateClient, notAfter - 10 * 86_400_000)).toEqual([
      {
        code: "certificate-expiring",
        severity: "warning",
        file: "platform.client.json",
        pointer: "/signature/key/ref",
        message:
          "the certificate CN=Platform 2026 of upstream client platform in file:platform.pem expires on 2027-03-01T00:00:00.000Z, in 10 days; get the client's renewed certificate and push it in its client definition (signature.key) when the client signs with the renewed key",
      },
    ]);
    // Another window, as `--expiry-warning` sets it.
    expect(await check(certificateClient, notAfter - 40 * 86_400_000, "60d")).toHaveLength(1);
  });

  test("an expired one says so", async () => {
    const late = await check(certificateClient, notAfter + 86_400_000);
    expect(late.map((problem) => problem.message)).toEqual([
      "the certificate CN=Platform 2026 of upstream client platform in file:platform.pem expired on 2027-03-01T00:00:00.000Z; get the client's renewed certificate and push it in its client definition (signature.key)",
    ]);
  });

  test("a retired client (it allows nothing) says nothing of its expired certificate", async () => {
    const retired = { ...certificateClient, allow: {} };
    expect(await check(retired, notAfter + 86_400_000)).toEqual([]);
    expect(await check(certificateClient, notAfter + 86_400_000)).toHaveLength(1);
  });

  test("a bare public key, an HMAC secret and a reference that does not resolve say nothing", async () => {
    const now = notAfter + 86_400_000;
    const bare = client({ algorithm: "rsa-sha256", key: { ref: "file:platform-key.pem" } });
    // A shared secret never expires, whatever its bytes look like.
    const hmac = client({ algorithm: "hmac-sha256", key: { ref: "file:platform.pem" } });
    const absent = client({ algorithm: "rsa-sha256", key: { ref: "file:absent.pem" } });
    for (const definition of [bare, hmac, absent]) expect(await check(definition, now)).toEqual([]);
  });
});
