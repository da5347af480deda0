import { type KeyObject, webcrypto } from "node:crypto";

type Algorithm =
  | { name: "RSA-OAEP"; hash: "SHA-1" | "SHA-256" }
  | { name: "RSASSA-PKCS1-v1_5"; hash: "SHA-256" };

const imported = new WeakMap<KeyObject, Map<string, Promise<webcrypto.CryptoKey>>>();

/**
 * The WebCrypto form of a loaded RSA private key for one algorithm, imported once per key and
 * algorithm and then reused: importing parses and checks the key on the event loop (about 1 ms
 * for RSA-2048), too slow to repeat per message. A key WebCrypto refuses rejects every time.
 */
export function webCryptoPrivateKey(
  key: KeyObject,
  algorithm: Algorithm,
  usage: "decrypt" | "sign",
): Promise<webcrypto.CryptoKey> {
  let byAlgorithm = imported.get(key);
  if (byAlgorithm === undefined) {
    byAlgorithm = new Map();
    imported.set(key, byAlgorithm);
  }
  const name = `${algorithm.name} ${algorithm.hash} ${usage}`;
  let cryptoKey = byAlgorithm.get(name);
  if (cryptoKey === undefined) {
    cryptoKey = Promise.resolve().then(() =>
      webcrypto.subtle.importKey(
        "pkcs8",
        key.export({ format: "der", type: "pkcs8" }),
        algorithm,
        false,
        [usage],
      ),
    );
    byAlgorithm.set(name, cryptoKey);
  }
  return cryptoKey;
}
