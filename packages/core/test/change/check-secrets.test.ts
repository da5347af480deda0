import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { checkChannelSecrets } from "../../src/change/check-secrets.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { ManualClock } from "../../src/memory/manual-clock.ts";
import { platform } from "../support/crypto/test-keys.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");
const notAfter = Date.UTC(2027, 2, 1);

/** A funder's CA certificate (self-signed with a test key) that expires on 2027-03-01. */
function caCertificate(): string {
  const key = forge.pki.privateKeyFromPem(platform.pkcs1Pem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.UTC(2026, 0, 1));
  cert.validity.notAfter = new Date(notAfter);
  const attrs = [{ name: "commonName", value: "Bank Test CA" }];
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
