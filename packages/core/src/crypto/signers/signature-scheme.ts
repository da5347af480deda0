import type { PublicKey } from "../keys/loaded-keys.ts";

/**
 * One signature algorithm bound to its keys. Signatures are bytes here; their text form (hex,
 * base64) is the placement's business. Symmetric schemes ignore `publicKey`; asymmetric ones are
 * given the verification key chosen by key id (rotation), so one scheme serves all active keys.
 */
export interface SignatureScheme {
  readonly symmetric: boolean;
  sign(data: Buffer): Promise<Buffer>;
  /** False for a wrong signature; never throws for malformed signature bytes. */
  verify(data: Buffer, signature: Buffer, publicKey: PublicKey | undefined): Promise<boolean>;
}
