import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  X509Certificate,
} from "node:crypto";
import type { ErrorContext } from "../../errors.ts";
import type { SecretResolver } from "../../ports/secret-resolver.ts";
import { Redacted } from "../../redacted.ts";
import { keyInvalid } from "../failures.ts";
import { describeRef } from "../secret-reference.ts";
import { readSm2PrivateKey, readSm2PublicKey } from "../sm2.ts";
import { certificateId } from "./certificate-id.ts";
import type { KeySpec } from "./key-spec.ts";
import type {
  PrivateKey,
  PublicKey,
  SecretKey,
  Sm2PrivateKey,
  Sm2PublicKey,
} from "./loaded-keys.ts";
import { readPkcs12 } from "./pkcs12.ts";

export type KeyFamily = "rsa" | "sm2";

/** Where keys come from: a handler's `CryptoHandlerDeps` will do. */
export interface KeyLoadContext {
  secrets: SecretResolver;
  /** Folder relative `file:` references resolve against. */
  baseDir?: string | undefined;
  /** Channel code, for error context. */
  channel?: string | undefined;
  /** Error context (channel, role). */
  context?: ErrorContext;
}

function errorContextOf(ctx: KeyLoadContext): ErrorContext {
  return { ...(ctx.channel === undefined ? {} : { channel: ctx.channel }), ...ctx.context };
}

/**
 * Parsed keys by content: parsing a PKCS#12 costs 20–50 ms, so two channels (or two handlers of
 * one channel) referencing the same bytes share one KeyObject. Keyed by a digest of the bytes, so
 * a rotated file is parsed anew.
 */
const parsed = new Map<string, PrivateKey | PublicKey>();
const maxCached = 256;

function remember<T extends PrivateKey | PublicKey>(key: string, make: () => T): T {
  const hit = parsed.get(key);
  if (hit !== undefined) return hit as T;
  const value = make();
  if (parsed.size >= maxCached) parsed.delete(parsed.keys().next().value as string);
  parsed.set(key, value);
  return value;
}

function cacheKey(kind: string, bytes: Buffer, ...more: (string | undefined)[]): string {
  const h = createHash("sha256").update(kind).update("\0").update(bytes);
  for (const m of more) h.update("\0").update(m ?? "");
  return h.digest("hex");
}

/** The bytes behind a secret reference. Callers own the secret from here on: never log it. */
export async function readSecret(ref: string, ctx: KeyLoadContext): Promise<Buffer> {
  return Redacted.reveal(
    await ctx.secrets.resolve(ref, ctx.baseDir === undefined ? {} : { baseDir: ctx.baseDir }),
  );
}

/**
 * A text secret (a shared secret, a password) behind a reference: a `file:` reference loses one
 * trailing newline (`\n` or `\r\n`), which `echo` and `openssl rand -hex 24 > file` leave and
 * `$(cat file)` drops, so that the file and the shell agree on the secret. Binary forms (PEM, DER,
 * PKCS#12) are read with {@link readSecret}, as they are.
 */
export async function readSecretText(ref: string, ctx: KeyLoadContext): Promise<Buffer> {
  const bytes = await readSecret(ref, ctx);
  if (!ref.startsWith("file:")) return bytes;
  return withoutTrailingNewline(bytes);
}

/** The bytes without one trailing `\n` or `\r\n`. */
export function withoutTrailingNewline(bytes: Buffer): Buffer {
  const end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) {
    return bytes.subarray(0, end >= 2 && bytes[end - 2] === 0x0d ? end - 2 : end - 1);
  }
  return bytes;
}

export async function loadPrivateKey(
  spec: KeySpec,
  family: KeyFamily,
  ctx: KeyLoadContext,
): Promise<PrivateKey> {
  const bytes = await readSecret(spec.ref, ctx);
  const password =
    spec.password === undefined
      ? undefined
      : (await readSecretText(spec.password, ctx)).toString("utf8");
  const certificate =
    spec.certificate === undefined ? undefined : await readSecret(spec.certificate, ctx);
  const fail = (what: string, cause?: unknown) =>
    keyInvalid(
      `${what} (key ${describeRef(spec.ref)}). Check the reference, the format and the password.`,
      { ...errorContextOf(ctx), key: describeRef(spec.ref) },
      cause,
    );
  const passwordDigest =
    password === undefined ? undefined : createHash("sha256").update(password).digest("hex");
  return remember(
    cacheKey(
      `private-${family}`,
      bytes,
      spec.format,
      passwordDigest,
      certificate?.toString("base64"),
      spec.id,
      spec.idFormat,
    ),
    () => {
      const idOf = (cert: X509Certificate | undefined) =>
        spec.id ?? (cert === undefined ? undefined : certificateId(cert, spec.idFormat));
      const ownCertificate =
        certificate === undefined ? undefined : new X509Certificate(certificate);
      if (family === "sm2") {
        let key: Sm2PrivateKey;
        try {
          key = readSm2PrivateKey(bytes, spec.format);
        } catch (error) {
          throw fail((error as Error).message);
        }
        if (ownCertificate !== undefined) {
          if (readSm2PublicKey(ownCertificate.toString()).publicHex !== key.publicHex)
            throw fail("the certificate is not the private key's (its public key differs)");
          key = { ...key, certificate: ownCertificate };
        }
        return withId(key, idOf(ownCertificate));
      }
      let key: KeyObject;
      let keyCertificate = ownCertificate;
      try {
        if (spec.format === "pkcs12") {
          const p12 = readPkcs12(bytes, password ?? "");
          if (p12.privateKey === undefined) throw fail("the PKCS#12 file holds no private key");
          key = p12.privateKey;
          keyCertificate ??= p12.certificate;
        } else {
          key = parsePrivate(bytes, spec.format, password);
        }
      } catch (error) {
        if (error instanceof Error && error.name === "CapflowError") throw error;
        throw fail("cannot parse the private key", error);
      }
      if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") {
        throw fail(
          key.asymmetricKeyType === undefined
            ? "expected an RSA private key; this looks like an SM2 or other key (SM2 keys need an SM2 signature or wrap in the profiles)"
            : `expected an RSA private key, got ${key.asymmetricKeyType}`,
        );
      }
      const own = keyCertificate === undefined ? {} : { certificate: keyCertificate };
      return withId({ kind: "private", key, ...own }, idOf(keyCertificate));
    },
  );
}

export async function loadPublicKey(
  spec: KeySpec,
  family: KeyFamily,
  ctx: KeyLoadContext,
): Promise<PublicKey> {
  const bytes = await readSecret(spec.ref, ctx);
  const password =
    spec.password === undefined
      ? undefined
      : (await readSecretText(spec.password, ctx)).toString("utf8");
  const fail = (what: string, cause?: unknown) =>
    keyInvalid(
      `${what} (key ${describeRef(spec.ref)}). Check the reference and the format.`,
      { ...errorContextOf(ctx), key: describeRef(spec.ref) },
      cause,
    );
  const cacheId = cacheKey(
    `public-${family}`,
    bytes,
    spec.format,
    password,
    spec.id,
    spec.idFormat,
  );
  return remember(cacheId, () => {
    const idOf = (cert: X509Certificate | undefined) =>
      spec.id ?? (cert === undefined ? undefined : certificateId(cert, spec.idFormat));
    if (family === "sm2") {
      let key: Sm2PublicKey;
      try {
        key = readSm2PublicKey(bytes, spec.format);
      } catch (error) {
        throw fail((error as Error).message);
      }
      return withId(key, idOf(key.certificate));
    }
    let key: KeyObject;
    let certificate: X509Certificate | undefined;
    try {
      if (spec.format === "pkcs12") {
        const p12 = readPkcs12(bytes, password ?? "");
        if (p12.certificate === undefined) throw fail("the PKCS#12 file holds no certificate");
        certificate = p12.certificate;
        key = certificate.publicKey;
      } else if (bytes.includes("-----BEGIN CERTIFICATE-----")) {
        certificate = new X509Certificate(bytes);
        key = certificate.publicKey;
      } else {
        key = parsePublic(bytes, spec.format);
      }
    } catch (error) {
      if (error instanceof Error && error.name === "CapflowError") throw error;
      throw fail("cannot parse the public key or certificate", error);
    }
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") {
      throw fail(
        key.asymmetricKeyType === undefined
          ? "expected an RSA public key or certificate; this looks like an SM2 or other key (SM2 keys need an SM2 signature or wrap in the profiles)"
          : `expected an RSA public key, got ${key.asymmetricKeyType}`,
      );
    }
    return withId(
      { kind: "public", key, ...(certificate === undefined ? {} : { certificate }) },
      idOf(certificate),
    );
  });
}

/** An X.509 certificate (PEM, or DER as bytes or base64), RSA or SM2: a trust anchor, an intermediate. */
export async function loadCertificate(
  spec: KeySpec,
  ctx: KeyLoadContext,
): Promise<X509Certificate> {
  const bytes = await readSecret(spec.ref, ctx);
  try {
    if (bytes.includes("-----BEGIN CERTIFICATE-----")) return new X509Certificate(bytes);
    const text = bytes.toString("latin1").trim();
    return new X509Certificate(
      /^[A-Za-z0-9+/=\s]+$/.test(text) ? Buffer.from(text, "base64") : bytes,
    );
  } catch (error) {
    throw keyInvalid(
      `not an X.509 certificate (key ${describeRef(spec.ref)}); give a PEM or DER certificate`,
      { ...errorContextOf(ctx), key: describeRef(spec.ref) },
      error,
    );
  }
}

/** Symmetric key bytes: `utf8` (default), `hex` or `base64` text; from a file, without one trailing newline. */
export async function loadSecretKey(spec: KeySpec, ctx: KeyLoadContext): Promise<SecretKey> {
  const bytes = await readSecretText(spec.ref, ctx);
  const text = bytes.toString("utf8").trim();
  switch (spec.format ?? "utf8") {
    case "utf8":
      return Redacted.of(Buffer.from(bytes));
    case "hex":
      if (!/^([0-9a-fA-F]{2})+$/.test(text)) {
        throw keyInvalid(`key ${describeRef(spec.ref)} is not hex text`, errorContextOf(ctx));
      }
      return Redacted.of(Buffer.from(text, "hex"));
    case "base64":
      return Redacted.of(Buffer.from(text, "base64"));
    default:
      throw keyInvalid(
        `a symmetric key is utf8, hex or base64 text, not ${spec.format} (key ${describeRef(spec.ref)})`,
        errorContextOf(ctx),
      );
  }
}

function parsePrivate(
  bytes: Buffer,
  format: KeySpec["format"],
  passphrase: string | undefined,
): KeyObject {
  if (format === "base64") {
    // Bare base64 DER as partner portals hand it out: PKCS#8 first, then PKCS#1.
    const der = Buffer.from(bytes.toString("utf8").trim(), "base64");
    try {
      return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } catch {
      return createPrivateKey({ key: der, format: "der", type: "pkcs1" });
    }
  }
  // PEM: the label tells PKCS#1 (RSA PRIVATE KEY), PKCS#8 (PRIVATE KEY) and encrypted PKCS#8 apart.
  return createPrivateKey(passphrase === undefined ? bytes : { key: bytes, passphrase });
}

function parsePublic(bytes: Buffer, format: KeySpec["format"]): KeyObject {
  if (format === "base64") {
    const der = Buffer.from(bytes.toString("utf8").trim(), "base64");
    try {
      return createPublicKey({ key: der, format: "der", type: "spki" });
    } catch {
      return createPublicKey({ key: der, format: "der", type: "pkcs1" });
    }
  }
  return createPublicKey(bytes);
}

function withId<T extends PrivateKey | PublicKey>(key: T, id: string | undefined): T {
  return id === undefined ? key : { ...key, id };
}
