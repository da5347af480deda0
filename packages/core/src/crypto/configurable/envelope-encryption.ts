import { randomBytes } from "node:crypto";
import type { ErrorContext } from "../../errors.ts";
import { decodeBytes, encodeText } from "../../message/charset.ts";
import { parseJson } from "../../message/codecs/parse-json.ts";
import { Redacted } from "../../redacted.ts";
import { createContentCipher } from "../ciphers/content-cipher.ts";
import { type BinaryEncoding, decodeBinary, encodeBinary } from "../encoding.ts";
import { configInvalid, decryptFailed } from "../failures.ts";
import { createKeyWrapper, type KeyWrapper } from "../key-wrap.ts";
import type { SecretKey } from "../keys/loaded-keys.ts";
import { refusePssOnlyKey } from "../keys/pss-only-key.ts";
import type { LoadedKeys } from "./load-keys.ts";
import { type Fields, isFields } from "./messages.ts";
import type { EncryptionPart, EnvelopeEncodings } from "./options.ts";

/**
 * Content encryption into an envelope: the encoded business body is encrypted with a content key
 * (random per message and wrapped for the peer, or shared), and the envelope's fields carry the
 * ciphertext, the wrapped key and the IV.
 */
export interface EnvelopeEncryption {
  /** The envelope's own format, which may differ from the business body's. */
  format: "json" | "form";
  /** Encrypts the text's bytes in `charset`. */
  seal(plainText: string, charset: string): Fields;
  encodeEnvelope(envelope: Fields): string;
  /** The envelope's fields, or undefined when the text is not an envelope of this format. */
  parseEnvelope(text: string): Fields | undefined;
  /** Rejects with CRYPTO_DECRYPT_FAILED, the same for every kind of tampering. */
  open(envelope: Fields, charset: string): Promise<string>;
}

export function compileEnvelopeEncryption(
  part: EncryptionPart,
  keys: LoadedKeys,
  context: ErrorContext,
  threadPool: boolean,
): EnvelopeEncryption {
  const cipher = createContentCipher(part.cipher);
  const encoding = envelopeEncodings(part);
  const layout = part.envelope;
  const format = layout.format ?? "json";
  const ivMode = cipher.ivLength === 0 ? "none" : (part.iv ?? "prefix");
  const aad = part.aad === undefined ? undefined : Buffer.from(part.aad, "utf8");
  let wrapper: KeyWrapper | undefined;
  let shared: SecretKey | undefined;
  if (part.contentKey === "wrapped") {
    if (keys.encryption === undefined || keys.decryption === undefined || part.wrap === undefined) {
      throw configInvalid(
        "wrapped content keys need encryption.wrap, keys.encryption and keys.decryption",
        context,
      );
    }
    refusePssOnlyKey(keys.encryption, `${part.wrap} key wrapping`, "/keys/encryption", context);
    refusePssOnlyKey(keys.decryption, `${part.wrap} key unwrapping`, "/keys/decryption", context);
    wrapper = createKeyWrapper(
      part.wrap,
      keys.encryption,
      keys.decryption,
      part.sm2PointPrefix ?? false,
      threadPool,
    );
  } else {
    shared = keys.contentKey;
    if (shared === undefined)
      throw configInvalid("a shared content key needs keys.contentKey", context);
    if (Redacted.reveal(shared).length !== cipher.keyLength) {
      throw configInvalid(
        `keys.contentKey must be ${cipher.keyLength} bytes for ${cipher.name}`,
        context,
      );
    }
  }
  const fail = (what: string) => decryptFailed(what, context);
  return {
    format,
    seal(plainText, charset) {
      const key = shared === undefined ? randomBytes(cipher.keyLength) : Redacted.reveal(shared);
      const iv = ivMode === "zero" ? Buffer.alloc(cipher.ivLength) : cipher.randomIv();
      const ct = cipher.encrypt(key, iv, encodeText(plainText, charset, context), aad);
      const envelope: Fields = {};
      envelope[layout.data] = encodeBinary(
        ivMode === "prefix" ? Buffer.concat([iv, ct]) : ct,
        encoding.ciphertext,
      );
      if (wrapper !== undefined && layout.key !== undefined)
        envelope[layout.key] = encodeBinary(wrapper.wrap(key), encoding.key);
      if (ivMode === "field" && layout.iv !== undefined)
        envelope[layout.iv] = encodeBinary(iv, encoding.iv);
      return envelope;
    },
    encodeEnvelope(envelope) {
      if (format === "json") return JSON.stringify(envelope);
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(envelope))
        params.append(k, typeof v === "string" ? v : JSON.stringify(v));
      return params.toString();
    },
    parseEnvelope(text) {
      if (format === "form") return Object.fromEntries(new URLSearchParams(text));
      try {
        const value: unknown = parseJson(text);
        return isFields(value) ? value : undefined;
      } catch {
        return undefined;
      }
    },
    async open(envelope, charset) {
      const dataText = envelope[layout.data];
      if (typeof dataText !== "string") throw fail(`envelope field ${layout.data} is missing`);
      const data = decodeBinary(dataText, encoding.ciphertext);
      if (data === undefined)
        throw fail(`envelope field ${layout.data} is not ${encoding.ciphertext}`);
      let key: Buffer;
      if (wrapper !== undefined) {
        const wrappedText = layout.key === undefined ? undefined : envelope[layout.key];
        const wrapped =
          typeof wrappedText === "string" ? decodeBinary(wrappedText, encoding.key) : undefined;
        if (wrapped === undefined)
          throw fail(`envelope field ${layout.key ?? "key"} is missing or not ${encoding.key}`);
        // Never throws on a bad wrapped key: a wrong key fails below, like any tampering.
        key = await wrapper.unwrap(wrapped, cipher.keyLength);
      } else {
        key = Redacted.reveal(shared as SecretKey);
      }
      let iv: Buffer;
      let ct: Buffer;
      if (ivMode === "prefix") {
        iv = data.subarray(0, cipher.ivLength);
        ct = data.subarray(cipher.ivLength);
      } else if (ivMode === "field") {
        const ivText = layout.iv === undefined ? undefined : envelope[layout.iv];
        const decoded = typeof ivText === "string" ? decodeBinary(ivText, encoding.iv) : undefined;
        if (decoded === undefined || decoded.length !== cipher.ivLength)
          throw fail("the IV is missing or malformed");
        iv = decoded;
        ct = data;
      } else {
        iv = Buffer.alloc(cipher.ivLength);
        ct = data;
      }
      let plain: Buffer;
      try {
        plain = cipher.decrypt(key, iv, ct, aad);
      } catch {
        throw fail("the content does not decrypt (wrong key, tampered ciphertext or tag)");
      }
      // A random (implicitly rejected) key can still pass CBC padding 1 time in 256; bytes not
      // valid in the charset catch most of those, and the signature or codec the rest.
      try {
        return decodeBytes(plain, charset, context);
      } catch {
        throw fail("the content does not decrypt (wrong key, tampered ciphertext or tag)");
      }
    },
  };
}

/** The encoding of each envelope part: one for all, or one per part (`base64` where not given). */
function envelopeEncodings(part: EncryptionPart): Required<EnvelopeEncodings> {
  const given = part.encoding ?? "base64";
  if (typeof given === "string") return { ciphertext: given, key: given, iv: given };
  const or = (encoding: BinaryEncoding | undefined) => encoding ?? "base64";
  return { ciphertext: or(given.ciphertext), key: or(given.key), iv: or(given.iv) };
}
