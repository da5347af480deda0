import { constants, type KeyObject, sign, verify } from "node:crypto";
import type { PrivateKey } from "../keys/loaded-keys.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

export type RsaSignatureAlgorithm = "rsa-sha1" | "rsa-sha256" | "rsa-pss-sha256";

/**
 * RSA PKCS#1 v1.5 (SHA-1, SHA-256) and RSA-PSS (SHA-256, MGF1-SHA-256) on OpenSSL. The callback
 * forms of `crypto.sign`/`verify` run on libuv's thread pool, so several workers' signatures
 * proceed in parallel instead of blocking the event loop (~1.6x the synchronous throughput).
 */
export function createRsaScheme(
  algorithm: RsaSignatureAlgorithm,
  signingKey: PrivateKey | undefined,
  saltLength: number,
): SignatureScheme {
  const hash = algorithm === "rsa-sha1" ? "sha1" : "sha256";
  const pss = algorithm === "rsa-pss-sha256";
  const withPadding = (key: KeyObject) =>
    pss
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }
      : { key, padding: constants.RSA_PKCS1_PADDING };
  const signWith = signingKey?.kind === "private" ? withPadding(signingKey.key) : undefined;
  return {
    symmetric: false,
    sign(data) {
      if (signWith === undefined)
        return Promise.reject(new TypeError(`${algorithm} needs an RSA keys.signing`));
      return new Promise((resolve, reject) => {
        sign(hash, data, signWith, (error, signature) =>
          error ? reject(error) : resolve(signature),
        );
      });
    },
    verify(data, signature, publicKey) {
      if (publicKey?.kind !== "public") return Promise.resolve(false);
      return new Promise((resolve) => {
        verify(hash, data, withPadding(publicKey.key), signature, (error, ok) =>
          resolve(!error && ok),
        );
      });
    },
  };
}
