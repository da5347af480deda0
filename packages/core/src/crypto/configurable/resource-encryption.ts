import type { ErrorContext } from "../../errors.ts";
import { parseJson } from "../../message/codecs/parse-json.ts";
import { Redacted } from "../../redacted.ts";
import { createContentCipher } from "../ciphers/content-cipher.ts";
import { decodeBinary } from "../encoding.ts";
import { configInvalid, decryptFailed } from "../failures.ts";
import type { LoadedKeys } from "./load-keys.ts";
import { type Fields, isFields } from "./messages.ts";
import { createNonce } from "./nonce.ts";
import type { ResourcePart } from "./options.ts";

/**
 * An AEAD-encrypted object inside a signed body, WeChat Pay APIv3 style:
 * `body.resource = { algorithm, ciphertext, nonce, associated_data }`, replaced by its decoded
 * plaintext on opening. Unlike an envelope, the rest of the body stays readable.
 */
export interface ResourceEncryption {
  seal(body: Fields): Fields;
  /** Throws CRYPTO_DECRYPT_FAILED for a missing, malformed or tampered resource. */
  open(body: Fields): Fields;
}

export function compileResourceEncryption(
  part: ResourcePart,
  keys: LoadedKeys,
  context: ErrorContext,
): ResourceEncryption {
  const cipher = createContentCipher(part.cipher ?? "aes-256-gcm");
  const secret = keys.resourceKey;
  if (secret === undefined)
    throw configInvalid("resource decryption needs keys.resourceKey", context);
  if (Redacted.reveal(secret).length !== cipher.keyLength) {
    throw configInvalid(
      `keys.resourceKey must be ${cipher.keyLength} bytes for ${cipher.name}`,
      context,
    );
  }
  const names = {
    ciphertext: part.ciphertext ?? "ciphertext",
    nonce: part.nonce ?? "nonce",
    aad: part.associatedData ?? "associated_data",
    algorithm: part.algorithmField ?? "algorithm",
  };
  const fail = (what: string) => decryptFailed(what, { ...context, part: "resource" });
  return {
    seal(body) {
      const value = body[part.field];
      const nonce = createNonce({ length: 12 });
      const aadText = "";
      const plain = typeof value === "string" ? value : JSON.stringify(value);
      const ct = cipher.encrypt(
        Redacted.reveal(secret),
        Buffer.from(nonce),
        Buffer.from(plain, "utf8"),
        Buffer.from(aadText),
      );
      return {
        ...body,
        [part.field]: {
          [names.algorithm]: part.algorithmName ?? "AEAD_AES_256_GCM",
          [names.ciphertext]: ct.toString("base64"),
          [names.nonce]: nonce,
          [names.aad]: aadText,
        },
      };
    },
    open(body) {
      const resource = body[part.field];
      if (!isFields(resource)) throw fail(`${part.field} is missing`);
      const ctText = resource[names.ciphertext];
      const nonce = resource[names.nonce];
      const aadText = resource[names.aad] ?? "";
      if (typeof ctText !== "string" || typeof nonce !== "string" || typeof aadText !== "string") {
        throw fail(`${part.field} lacks ${names.ciphertext}, ${names.nonce} or ${names.aad}`);
      }
      const ct = decodeBinary(ctText, "base64");
      if (ct === undefined) throw fail(`${part.field}.${names.ciphertext} is not base64`);
      let plain: string;
      try {
        plain = cipher
          .decrypt(
            Redacted.reveal(secret),
            Buffer.from(nonce, "utf8"),
            ct,
            Buffer.from(aadText, "utf8"),
          )
          .toString("utf8");
      } catch {
        throw fail(
          `${part.field} does not decrypt (wrong key, tampered ciphertext, nonce or associated data)`,
        );
      }
      let decoded: unknown = plain;
      try {
        decoded = parseJson(plain);
      } catch {
        // Not JSON: keep the text.
      }
      return { ...body, [part.field]: decoded };
    },
  };
}
