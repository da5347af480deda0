import type { KeyObject, X509Certificate } from "node:crypto";
import type { Redacted } from "../../redacted.ts";

/**
 * Keys after loading: parsed once into the form each primitive wants (node:crypto KeyObjects for
 * RSA, hex for the SM2 library, bytes for symmetric keys). Symmetric and SM2 private material
 * stays wrapped in `Redacted` so a stray log prints `<redacted>`; KeyObjects never print material.
 */
export interface RsaPrivateKey {
  kind: "private";
  key: KeyObject;
  /** Key id (configured, or the certificate's serial number in upper-case hex). */
  id?: string;
  /** The key's certificate (its `certificate` reference or the PKCS#12's), for CMS signatures. */
  certificate?: X509Certificate;
}

export interface RsaPublicKey {
  kind: "public";
  key: KeyObject;
  id?: string;
  /** The certificate the key came in, when it came in one (expiry, chain, serial). */
  certificate?: X509Certificate;
}

export interface Sm2PrivateKey {
  kind: "sm2-private";
  privateHex: Redacted<string>;
  /** Uncompressed public key `04…`, which the signer needs to compute Z. */
  publicHex: string;
  id?: string;
  /** The key's certificate (its `certificate` reference), for CMS signatures. */
  certificate?: X509Certificate;
}

export interface Sm2PublicKey {
  kind: "sm2-public";
  publicHex: string;
  /** Precomputed multiples of the point: verification and encryption several times faster. */
  point: unknown;
  id?: string;
  certificate?: X509Certificate;
}

export type SecretKey = Redacted<Buffer>;

export type PrivateKey = RsaPrivateKey | Sm2PrivateKey;
export type PublicKey = RsaPublicKey | Sm2PublicKey;
