/** Object identifiers of CMS (RFC 5652) and of its Chinese national profile (GM/T 0010, GB/T 35275). */
export const cmsOid = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

export const gmOid = {
  /** GM/T 0010 `data`. */
  data: "1.2.156.10197.6.1.4.2.1",
  /** GM/T 0010 `signedData`. */
  signedData: "1.2.156.10197.6.1.4.2.2",
  sm3: "1.2.156.10197.1.401",
  /** sm2sign-with-sm3, as certificates and OpenSSL name an SM2 signature. */
  sm2WithSm3: "1.2.156.10197.1.501",
  /** The SM2 curve (a key's parameters), which some signers also write as the signature algorithm. */
  sm2: "1.2.156.10197.1.301",
  /** SM2-1, the signature scheme, as GM/T 0010 names a SignerInfo's signature algorithm. */
  sm2Sign: "1.2.156.10197.1.301.1",
} as const;

/** Signature algorithms that mean "SM2 with SM3" in a certificate or a SignerInfo. */
export const sm2SignatureOids: ReadonlySet<string> = new Set([
  gmOid.sm2WithSm3,
  gmOid.sm2,
  gmOid.sm2Sign,
]);

/** Content types accepted for SignedData and for its data, PKCS#7 and GM/T 0010 alike. */
export const signedDataOids: ReadonlySet<string> = new Set([cmsOid.signedData, gmOid.signedData]);
export const dataOids: ReadonlySet<string> = new Set([cmsOid.data, gmOid.data]);

/** Which family of OIDs a signer writes: RFC 5652's (OpenSSL, Bouncy Castle) or GM/T 0010's. */
export type CmsOidFamily = "pkcs7" | "gm";
