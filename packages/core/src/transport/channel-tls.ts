import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { keyInvalid } from "../crypto/failures.ts";
import { type KeyLoadContext, readSecret, readSecretText } from "../crypto/keys/load-key.ts";
import { readPkcs12 } from "../crypto/keys/pkcs12.ts";
import { describeRef } from "../crypto/secret-reference.ts";
import type { ChannelTlsDefinition } from "../definition/types.ts";
import type { TlsConnectOptions, TransportTls } from "../ports/transport.ts";
import { Redacted } from "../redacted.ts";

/**
 * Loads a channel's `tls` settings into connect options, once per channel load, and checks them
 * here rather than at the first handshake: a key that does not match its certificate or a
 * wrong password is a `KEY_INVALID` naming the reference, not a connection error on a payment.
 *
 * PKCS#12 goes through node-forge (like signing keys): OpenSSL 3 refuses the RC2-40 encryption
 * that many bank-issued .pfx files still use.
 */
export async function loadChannelTls(
  definition: ChannelTlsDefinition | undefined,
  ctx: KeyLoadContext,
): Promise<TransportTls | undefined> {
  if (definition === undefined) return undefined;
  const options: TlsConnectOptions = {};
  if (definition.clientKey !== undefined) {
    Object.assign(options, await loadClientIdentity(definition, ctx));
  }
  if (definition.ca !== undefined) {
    options.ca = [];
    for (const ref of definition.ca) {
      const pem = (await readSecret(ref, ctx)).toString("utf8");
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
        throw tlsInvalid(ctx, ref, "tls.ca must be PEM certificates (-----BEGIN CERTIFICATE-----)");
      }
      options.ca.push(pem);
    }
  }
  if (definition.serverName !== undefined) options.servername = definition.serverName;
  try {
    createSecureContext(options);
  } catch (error) {
    throw tlsInvalid(
      ctx,
      definition.clientKey?.ref ?? definition.ca?.[0] ?? "tls",
      "OpenSSL refuses the tls settings",
      error,
    );
  }
  const id = createHash("sha256")
    .update(JSON.stringify([options.key, options.cert, options.ca, options.servername]))
    .digest("hex")
    .slice(0, 32);
  return { id, options: Redacted.of(options) };
}

async function loadClientIdentity(
  definition: ChannelTlsDefinition,
  ctx: KeyLoadContext,
): Promise<{ key: string; cert: string }> {
  const spec = definition.clientKey!;
  const bytes = await readSecret(spec.ref, ctx);
  const password =
    spec.password === undefined ? undefined : (await readSecretText(spec.password, ctx)).toString();
  let key: KeyObject;
  let chain: X509Certificate[];
  try {
    if (spec.format === "pkcs12") {
      const p12 = readPkcs12(bytes, password ?? "");
      if (p12.privateKey === undefined) {
        throw tlsInvalid(ctx, spec.ref, "the PKCS#12 file holds no private key");
      }
      key = p12.privateKey;
      // Leaf first: the certificate of this key, then the rest of the file's chain.
      const leaf = p12.certificates.find((certificate) => certificate.checkPrivateKey(key));
      if (leaf === undefined) {
        throw tlsInvalid(ctx, spec.ref, "the PKCS#12 file holds no certificate for its key");
      }
      chain = [leaf, ...p12.certificates.filter((certificate) => certificate !== leaf)];
    } else {
      if (definition.clientCertificate === undefined) {
        throw tlsInvalid(ctx, spec.ref, 'a PEM client key needs "clientCertificate"');
      }
      key = createPrivateKey(
        password === undefined ? bytes : { key: bytes, format: "pem", passphrase: password },
      );
      chain = splitPem((await readSecret(definition.clientCertificate, ctx)).toString("utf8")).map(
        (pem) => new X509Certificate(pem),
      );
      if (chain[0] === undefined || !chain[0].checkPrivateKey(key)) {
        throw tlsInvalid(
          ctx,
          definition.clientCertificate,
          "the first certificate of tls.clientCertificate is not the certificate of tls.clientKey",
        );
      }
    }
  } catch (error) {
    if (error instanceof Error && error.name === "CapflowError") throw error;
    throw tlsInvalid(ctx, spec.ref, "cannot read the client key or certificate", error);
  }
  return {
    key: key.export({ type: "pkcs8", format: "pem" }).toString(),
    cert: chain.map((certificate) => certificate.toString()).join(""),
  };
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function tlsInvalid(ctx: KeyLoadContext, ref: string, what: string, cause?: unknown) {
  return keyInvalid(
    `${what} (${describeRef(ref)}). Check the channel's tls settings: references, formats and password.`,
    { ...ctx.context, key: describeRef(ref) },
    cause,
  );
}
