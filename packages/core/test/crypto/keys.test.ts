import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadPrivateKey, loadPublicKey, loadSecretKey } from "../../src/crypto/keys/load-key.ts";
import {
  createCompositeSecretResolver,
  createDefaultSecretResolver,
} from "../../src/crypto/secret-resolvers.ts";
import { Redacted } from "../../src/redacted.ts";
import { inline, platform } from "../support/crypto/test-keys.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");

/** A self-signed certificate for the platform key and a PKCS#12 holding both (made with forge once). */
function certificateAndPkcs12(password: string) {
  const key = forge.pki.privateKeyFromPem(platform.pkcs1Pem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = "5157f09efdc096de15ebe81a47057a7232f1b8e1";
  cert.validity.notBefore = new Date("2026-01-01T00:00:00Z");
  cert.validity.notAfter = new Date("2031-01-01T00:00:00Z");
  const attrs = [{ name: "commonName", value: "capflow test merchant" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(key, forge.md.sha256.create());
  const p12 = forge.pkcs12.toPkcs12Asn1(key, [cert], password, { algorithm: "3des" });
  return {
    certPem: forge.pki.certificateToPem(cert),
    p12: Buffer.from(forge.asn1.toDer(p12).getBytes(), "binary"),
  };
}

const { certPem, p12 } = certificateAndPkcs12("p12-secret-password");
const serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

async function ctx(env: Record<string, string> = {}, baseDir?: string) {
  return {
    secrets: createDefaultSecretResolver({ allowInline: true, env }),
    ...(baseDir === undefined ? {} : { baseDir }),
    context: { channel: "test-channel" },
  };
}

describe("key loading", () => {
  it("reads PKCS#1, PKCS#8, encrypted PKCS#8 and bare base64 DER private keys", async () => {
    const encrypted = platform.privateKey
      .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: "pem-pass" })
      .toString();
    const der = platform.privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
    const expected = platform.privateKey.export({ format: "der", type: "pkcs8" });
    for (const spec of [
      { ref: inline(platform.pkcs1Pem) },
      { ref: inline(platform.privatePem) },
      { ref: inline(encrypted), password: "env:PEM_PASS" },
      { ref: inline(der), format: "base64" as const },
    ]) {
      const key = await loadPrivateKey(spec, "rsa", await ctx({ PEM_PASS: "pem-pass" }));
      expect(
        key.kind === "private" && key.key.export({ format: "der", type: "pkcs8" }).equals(expected),
      ).toBe(true);
    }
  });

  it("reads SPKI, PKCS#1 public keys and certificates; a certificate's serial is the key id", async () => {
    const pkcs1 = platform.publicKey.export({ format: "pem", type: "pkcs1" }).toString();
    for (const ref of [inline(platform.publicPem), inline(pkcs1)]) {
      expect((await loadPublicKey({ ref }, "rsa", await ctx())).kind).toBe("public");
    }
    const fromCert = await loadPublicKey({ ref: inline(certPem) }, "rsa", await ctx());
    expect(fromCert.id).toBe(serial);
    const named = await loadPublicKey(
      { ref: inline(certPem), id: "rotation-2" },
      "rsa",
      await ctx(),
    );
    expect(named.id).toBe("rotation-2");
  });

  it("reads a PKCS#12 with its password from the environment, once (cached)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-keys-"));
    await writeFile(join(dir, "merchant.p12"), p12);
    const spec = {
      ref: "file:merchant.p12",
      format: "pkcs12" as const,
      password: "env:P12_PASSWORD",
    };
    const c = await ctx({ P12_PASSWORD: "p12-secret-password" }, dir);
    const first = await loadPrivateKey(spec, "rsa", c);
    const second = await loadPrivateKey(spec, "rsa", c);
    expect(first.id).toBe(serial);
    expect(second).toBe(first);
    expect(first.kind === "private" && first.key.asymmetricKeyType).toBe("rsa");
    const cert = await loadPublicKey(spec, "rsa", c);
    expect(cert.id).toBe(serial);
  });

  it("a wrong PKCS#12 password is KEY_INVALID and the message names neither password nor key", async () => {
    const spec = {
      ref: inline(p12.toString("binary")),
      format: "pkcs12" as const,
      password: "env:P12_PASSWORD",
    };
    const dir = await mkdtemp(join(tmpdir(), "capflow-keys-"));
    await writeFile(join(dir, "m.p12"), p12);
    const error = await loadPrivateKey(
      { ...spec, ref: "file:m.p12" },
      "rsa",
      await ctx({ P12_PASSWORD: "wrong-password-123" }, dir),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: "KEY_INVALID",
      context: { channel: "test-channel", key: "file:m.p12" },
    });
    expect(JSON.stringify(error)).not.toContain("wrong-password-123");
  });

  it("a private key given where SM2 hex is expected, or garbage PEM, is KEY_INVALID naming the reference only", async () => {
    const error = await loadPrivateKey(
      { ref: inline(platform.privatePem) },
      "sm2",
      await ctx(),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "KEY_INVALID", context: { key: "inline:<redacted>" } });
    expect(`${(error as Error).message}${JSON.stringify(error)}`).not.toContain("PRIVATE KEY");
    await expect(
      loadPublicKey({ ref: "inline:not a key" }, "rsa", await ctx()),
    ).rejects.toMatchObject({ code: "KEY_INVALID" });
  });

  it("symmetric keys: utf8, hex and base64", async () => {
    const c = await ctx();
    expect(Redacted.reveal(await loadSecretKey({ ref: "inline:abc" }, c)).toString()).toBe("abc");
    expect(Redacted.reveal(await loadSecretKey({ ref: "inline:00ff", format: "hex" }, c))).toEqual(
      Buffer.from([0, 255]),
    );
    expect(
      Redacted.reveal(await loadSecretKey({ ref: "inline:AP8=", format: "base64" }, c)),
    ).toEqual(Buffer.from([0, 255]));
    await expect(loadSecretKey({ ref: "inline:xyz", format: "hex" }, c)).rejects.toMatchObject({
      code: "KEY_INVALID",
    });
  });
});

describe("text secrets from files", () => {
  it("a shared secret from a file loses one trailing newline, as $(cat file) does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-secret-text-"));
    // What `openssl rand -hex 24 > file` writes, and the same on Windows, and a deliberate blank line.
    await writeFile(join(dir, "lf.key"), "9f3c2a1b7d6e5f408a1b2c3d4e5f6a7b0c1d2e3f40516273\n");
    await writeFile(join(dir, "crlf.key"), "9f3c2a1b7d6e5f408a1b2c3d4e5f6a7b0c1d2e3f40516273\r\n");
    await writeFile(join(dir, "two.key"), "abc\n\n");
    const c = await ctx({ WITH_NEWLINE: "abc\n" }, dir);
    const secret = async (ref: string) =>
      Redacted.reveal(await loadSecretKey({ ref }, c)).toString("utf8");
    expect(await secret("file:lf.key")).toBe("9f3c2a1b7d6e5f408a1b2c3d4e5f6a7b0c1d2e3f40516273");
    expect(await secret("file:crlf.key")).toBe("9f3c2a1b7d6e5f408a1b2c3d4e5f6a7b0c1d2e3f40516273");
    expect(await secret("file:two.key")).toBe("abc\n");
    // An environment variable is taken as it is: the shell that set it already chose.
    expect(await secret("env:WITH_NEWLINE")).toBe("abc\n");
  });

  it("a PKCS#12 password from a file with a trailing newline opens the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-secret-text-"));
    await writeFile(join(dir, "merchant.p12"), p12);
    await writeFile(join(dir, "password.txt"), "p12-secret-password\n");
    const key = await loadPrivateKey(
      { ref: "file:merchant.p12", format: "pkcs12", password: "file:password.txt" },
      "rsa",
      await ctx({}, dir),
    );
    expect(key.id).toBe(serial);
  });
});

describe("secret resolvers", () => {
  it("env:, file: relative to the channel folder, and a custom scheme", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-secrets-"));
    await writeFile(join(dir, "k.txt"), "file-secret");
    const vault = { resolve: async (ref: string) => Redacted.of(Buffer.from(`vault(${ref})`)) };
    const resolver = createDefaultSecretResolver({ env: { A: "env-secret" }, extra: { vault } });
    expect(Redacted.reveal(await resolver.resolve("env:A")).toString()).toBe("env-secret");
    expect(Redacted.reveal(await resolver.resolve("file:k.txt", { baseDir: dir })).toString()).toBe(
      "file-secret",
    );
    expect(Redacted.reveal(await resolver.resolve("vault:kv/lanbank")).toString()).toBe(
      "vault(vault:kv/lanbank)",
    );
    const secret = await resolver.resolve("env:A");
    expect(`${secret} ${JSON.stringify({ secret })} ${inspect(secret)}`).toBe(
      '<redacted> {"secret":"<redacted>"} <redacted>',
    );
  });

  it("missing secrets and unknown or disabled schemes are SECRET_NOT_FOUND", async () => {
    const resolver = createDefaultSecretResolver({ env: {} });
    await expect(resolver.resolve("env:NOPE")).rejects.toMatchObject({
      code: "SECRET_NOT_FOUND",
      context: { reference: "env:NOPE" },
    });
    await expect(resolver.resolve("file:/nonexistent/key.pem")).rejects.toMatchObject({
      code: "SECRET_NOT_FOUND",
    });
    const inlineError = await resolver.resolve("inline:super-secret-value").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(inlineError).toMatchObject({ code: "SECRET_NOT_FOUND" });
    expect(`${(inlineError as Error).message}${JSON.stringify(inlineError)}`).not.toContain(
      "super-secret-value",
    );
    await expect(createCompositeSecretResolver({}).resolve("vault:x")).rejects.toMatchObject({
      code: "SECRET_NOT_FOUND",
    });
    // A password pasted where a reference belongs is not repeated in the error.
    const pasted = await resolver.resolve("changeit-P@ss").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(pasted).toMatchObject({
      code: "SECRET_NOT_FOUND",
      context: { reference: "<redacted: not a reference>" },
    });
    expect(`${(pasted as Error).message}${JSON.stringify(pasted)}`).not.toContain("changeit");
  });
});
