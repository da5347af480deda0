import type { SecretRef } from "../../definition/types.ts";
import type { CertificateIdFormat } from "./certificate-id.ts";

export type KeyFormat = "pem" | "pkcs12" | "hex" | "base64" | "utf8";

/** A key referenced by a secret reference (`file:keys/x.pem`, `env:NAME`), never inlined. */
export interface KeySpec {
  ref: SecretRef;
  /**
   * How the referenced bytes are read. Default: `pem` for RSA keys and certificates (PKCS#1,
   * PKCS#8, SPKI, X.509 detected from the PEM label), `hex` for SM2 keys, `utf8` for secrets.
   */
  format?: KeyFormat;
  /** Password of a PKCS#12 file or an encrypted PKCS#8 PEM. */
  password?: SecretRef;
  /** Key id for rotation and headers. Default: derived from the certificate, if any (`idFormat`). */
  id?: string;
  /** How the id is derived from the key's certificate. Default `serial` (upper-case hex). */
  idFormat?: CertificateIdFormat;
  /** A certificate whose serial number identifies this private key (`{serial}` in headers). */
  certificate?: SecretRef;
}
