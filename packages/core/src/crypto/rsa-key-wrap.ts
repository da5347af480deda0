import {
  constants,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  webcrypto,
} from "node:crypto";
import { webCryptoPrivateKey } from "./keys/web-crypto-key.ts";
import { unwrapOaepSha256Mgf1Sha1, wrapOaepSha256Mgf1Sha1 } from "./oaep-sha256-mgf1-sha1.ts";
import { unwrapPkcs1v15 } from "./pkcs1-unwrap.ts";

/**
 * RSA paddings partners wrap content keys with: OAEP (SHA-1 or SHA-256, MGF1 with the same hash),
 * OAEP with SHA-256 and MGF1-SHA-1 (Java's default for `OAEPWithSHA-256AndMGF1Padding`), or
 * PKCS#1 v1.5.
 */
export type RsaKeyWrapPadding = "oaep-sha1" | "oaep-sha256" | "oaep-sha256-mgf1sha1" | "pkcs1";

type OaepHash = "SHA-1" | "SHA-256";

/** A content key encrypted for the peer's RSA public key. */
export function rsaWrapKey(
  contentKey: Buffer,
  publicKey: KeyObject,
  padding: RsaKeyWrapPadding,
): Buffer {
  if (padding === "pkcs1") {
    // Encryption with PKCS#1 v1.5 padding is still allowed by Node; only decryption is not.
    return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, contentKey);
  }
  if (padding === "oaep-sha256-mgf1sha1") return wrapOaepSha256Mgf1Sha1(contentKey, publicKey);
  const oaepHash = padding === "oaep-sha1" ? "sha1" : "sha256";
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
    contentKey,
  );
}

/**
 * The content key the peer wrapped, of `expectedLength` bytes (16 or 32). Never rejects on a bad
 * wrapped key: it resolves to a random key of that length instead (implicit rejection), so the
 * failure surfaces as the content decryption's tag or padding error, like any tampering, and
 * no padding oracle exists. PKCS#1 v1.5 works on Node 20, which refuses that padding for
 * private decryption (see pkcs1-unwrap.ts).
 *
 * OAEP unwrapping runs on libuv's thread pool by default (`threadPool`, through WebCrypto): a
 * private-key operation costs a quarter of a millisecond or more, and done synchronously it
 * holds the event loop every other instance's step runs on. On a machine with no core to spare
 * the hand-off costs more than it frees, so `threadPool: false` unwraps on the event loop.
 * PKCS#1 v1.5 and OAEP with MGF1-SHA-1 are always synchronous (no off-loop API offers them).
 */
export async function rsaUnwrapKey(
  wrapped: Buffer,
  privateKey: KeyObject,
  padding: RsaKeyWrapPadding,
  expectedLength: number,
  threadPool = true,
): Promise<Buffer> {
  if (padding === "pkcs1") return unwrapPkcs1v15(privateKey, wrapped, expectedLength);
  if (padding === "oaep-sha256-mgf1sha1")
    return unwrapOaepSha256Mgf1Sha1(privateKey, wrapped, expectedLength);
  const hash: OaepHash = padding === "oaep-sha1" ? "SHA-1" : "SHA-256";
  // A key WebCrypto does not take is unwrapped synchronously, as before.
  const cryptoKey = threadPool
    ? await webCryptoPrivateKey(privateKey, { name: "RSA-OAEP", hash }, "decrypt").catch(
        () => undefined,
      )
    : undefined;
  let key: Buffer;
  try {
    key =
      cryptoKey === undefined
        ? privateDecrypt(
            {
              key: privateKey,
              padding: constants.RSA_PKCS1_OAEP_PADDING,
              oaepHash: hash === "SHA-1" ? "sha1" : "sha256",
            },
            wrapped,
          )
        : Buffer.from(await webcrypto.subtle.decrypt({ name: "RSA-OAEP" }, cryptoKey, wrapped));
  } catch {
    return randomBytes(expectedLength);
  }
  return key.length === expectedLength ? key : randomBytes(expectedLength);
}
