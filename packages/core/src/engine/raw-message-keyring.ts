import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { CapflowError } from "../errors.ts";
import { Redacted } from "../redacted.ts";

/**
 * A message kept as sent or received, encrypted at rest (AES-256-GCM). What step logs and the
 * inbox store in their `raw` column: the id of the key that sealed it travels with it, so keys
 * can rotate while older rows stay readable.
 */
export interface SealedRawMessage {
  alg: "A256GCM";
  keyId: string;
  /** 12-byte nonce, base64. */
  iv: string;
  /** 16-byte authentication tag, base64. */
  tag: string;
  /** The ciphertext of the message's JSON, base64. */
  data: string;
}

/** Where a raw message is kept; bound into the ciphertext so one cannot pass for the other. */
export type RawMessageKind = "step-log" | "inbox";

/** Requests and responses as sent and received (`keepRawMessages`), once opened. */
export interface RawExchangeMessages {
  request?: string;
  response?: string;
  /** The exact bytes in base64, for a charset other than UTF-8. */
  requestBytes?: string;
  responseBytes?: string;
}

/** A notification as received (`keepRawBody`), once opened. */
export interface RawNotification {
  body: string;
  /** The exact bytes in base64, for a charset other than UTF-8. */
  bytes?: string;
}

export interface RawMessageKeyringOptions {
  /** The key new messages are sealed with: one of `keys`. */
  current: string;
  /** Every key that may open stored messages, by id: 32 bytes each (AES-256). */
  keys: Record<string, Redacted<Buffer> | Uint8Array>;
}

const keyIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** What to tell an operator whose engine keeps raw messages without a key. */
export const rawMessageKeyHelp =
  "set CAPFLOW_RAW_MESSAGE_KEYS (or --raw-message-keys env:NAME|file:PATH) to `keyId=<32 bytes in base64>` for capflow serve and capflow worker, or give the engine `rawMessageKeys` (docs/operations.md, Raw messages at rest)";

/**
 * The operator's keys for messages kept as sent and received. Seals with the current key, opens
 * with whichever key a message names. The key material never prints: `String`, `JSON.stringify`
 * and `util.inspect` show the key ids only.
 */
export class RawMessageKeyring {
  readonly #keys: Map<string, Redacted<Buffer>>;
  readonly #current: string;

  constructor(options: RawMessageKeyringOptions) {
    this.#keys = new Map();
    for (const [id, key] of Object.entries(options.keys)) {
      if (!keyIdPattern.test(id))
        throw new CapflowError(
          "KEY_INVALID",
          `raw message key id "${id.slice(0, 64)}" is not usable: use 1 to 64 letters, digits, '.', '_' or '-'`,
        );
      const bytes = key instanceof Redacted ? Redacted.reveal(key) : Buffer.from(key);
      if (bytes.length !== 32)
        throw new CapflowError(
          "KEY_INVALID",
          `raw message key "${id}" has ${bytes.length} bytes; AES-256 needs 32 (e.g. \`openssl rand -base64 32\`)`,
        );
      this.#keys.set(id, Redacted.of(Buffer.from(bytes)));
    }
    if (!this.#keys.has(options.current))
      throw new CapflowError(
        "RAW_MESSAGE_KEY_MISSING",
        `the current raw message key "${options.current.slice(0, 64)}" is not among the keys given; ${rawMessageKeyHelp}`,
      );
    this.#current = options.current;
  }

  /**
   * Reads keys written as `keyId=base64` entries separated by commas or new lines; the first is
   * the current one (rotate by putting a new key first and keeping the old ones after it).
   */
  static parse(text: Redacted<Buffer> | Redacted<string> | string): RawMessageKeyring {
    const revealed = typeof text === "string" ? text : Redacted.reveal<Buffer | string>(text);
    const entries = revealed
      .toString()
      .split(/[,\n]/)
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "" && !entry.startsWith("#"));
    const keys: Record<string, Redacted<Buffer>> = {};
    for (const [index, entry] of entries.entries()) {
      const at = entry.indexOf("=");
      const id = at > 0 ? entry.slice(0, at).trim() : "";
      const material = at > 0 ? entry.slice(at + 1).trim() : "";
      // The entry itself may be key material: name only its position.
      if (id === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(material))
        throw new CapflowError(
          "KEY_INVALID",
          `raw message key entry ${index + 1} is not \`keyId=<base64>\`; write one key per entry, the current one first`,
        );
      if (Object.hasOwn(keys, id))
        throw new CapflowError("KEY_INVALID", `raw message key "${id}" is given twice`);
      keys[id] = Redacted.of(Buffer.from(material, "base64"));
    }
    const current = Object.keys(keys)[0];
    if (current === undefined)
      throw new CapflowError(
        "RAW_MESSAGE_KEY_MISSING",
        `no raw message key given; ${rawMessageKeyHelp}`,
      );
    return new RawMessageKeyring({ current, keys });
  }

  /** The id of the key new messages are sealed with. */
  get currentKeyId(): string {
    return this.#current;
  }

  /** Every configured key id, the current one first. */
  get keyIds(): string[] {
    return [this.#current, ...[...this.#keys.keys()].filter((id) => id !== this.#current)];
  }

  /** Encrypts a message with the current key, under a fresh nonce. */
  seal(message: RawExchangeMessages | RawNotification, kind: RawMessageKind): SealedRawMessage {
    const keyId = this.#current;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", Redacted.reveal(this.#keys.get(keyId)!), iv);
    cipher.setAAD(additionalData(kind, keyId));
    const data = Buffer.concat([cipher.update(JSON.stringify(message), "utf8"), cipher.final()]);
    return {
      alg: "A256GCM",
      keyId,
      iv: iv.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      data: data.toString("base64"),
    };
  }

  /**
   * Decrypts a sealed message with the key it names. Throws `RAW_MESSAGE_KEY_UNKNOWN` when that
   * key is not configured, `RAW_MESSAGE_DECRYPT_FAILED` when the message was altered or the key
   * under that id is not the one that sealed it.
   */
  open(sealed: SealedRawMessage, kind: "step-log"): RawExchangeMessages;
  open(sealed: SealedRawMessage, kind: "inbox"): RawNotification;
  open(sealed: SealedRawMessage, kind: RawMessageKind): RawExchangeMessages | RawNotification {
    if (!isSealedRawMessage(sealed))
      throw new CapflowError(
        "RAW_MESSAGE_DECRYPT_FAILED",
        "the stored raw message is not a sealed one (alg, keyId, iv, tag, data); it was altered or written in clear",
      );
    const key = this.#keys.get(sealed.keyId);
    if (key === undefined)
      throw new CapflowError(
        "RAW_MESSAGE_KEY_UNKNOWN",
        `the raw message was sealed with key "${sealed.keyId.slice(0, 64)}", which is not configured; add it back after the current key (configured: ${this.keyIds.join(", ")})`,
      );
    try {
      const decipher = createDecipheriv("aes-256-gcm", Redacted.reveal(key), b64(sealed.iv, 12), {
        authTagLength: 16,
      });
      decipher.setAAD(additionalData(kind, sealed.keyId));
      decipher.setAuthTag(b64(sealed.tag, 16));
      const text = Buffer.concat([decipher.update(b64(sealed.data)), decipher.final()]);
      return JSON.parse(text.toString("utf8")) as RawExchangeMessages | RawNotification;
    } catch (error) {
      throw new CapflowError(
        "RAW_MESSAGE_DECRYPT_FAILED",
        `the raw message does not open with key "${sealed.keyId}": it was altered, or that key id now names other key material; restore the key that sealed it`,
        { cause: error },
      );
    }
  }

  /**
   * A stored message sealed with the current key: opened with the key it names and sealed again,
   * or, kept in clear by an earlier version, sealed as it is. For `capflow raw reseal`, after a
   * rotation (so the old key can be retired) and for messages kept before they were encrypted.
   */
  reseal(stored: unknown, kind: RawMessageKind): SealedRawMessage {
    if (isSealedRawMessage(stored))
      return this.seal(
        kind === "step-log" ? this.open(stored, "step-log") : this.open(stored, "inbox"),
        kind,
      );
    if (isClearRawMessage(stored, kind)) return this.seal(stored, kind);
    throw new CapflowError(
      "RAW_MESSAGE_DECRYPT_FAILED",
      "the stored raw message is neither sealed nor a message kept in clear; it was altered",
    );
  }

  toString(): string {
    return `RawMessageKeyring(${this.keyIds.join(", ")})`;
  }

  toJSON(): { current: string; keyIds: string[] } {
    return { current: this.#current, keyIds: this.keyIds };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** Whether a stored `raw` value is sealed (rather than kept in clear by an older version). */
export function isSealedRawMessage(value: unknown): value is SealedRawMessage {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.alg === "A256GCM" &&
    typeof v.keyId === "string" &&
    typeof v.iv === "string" &&
    typeof v.tag === "string" &&
    typeof v.data === "string"
  );
}

/** A message an earlier version kept in clear: only the fields it wrote, all text. */
function isClearRawMessage(
  value: unknown,
  kind: RawMessageKind,
): value is RawExchangeMessages | RawNotification {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const fields = Object.entries(value);
  const allowed =
    kind === "step-log"
      ? ["request", "response", "requestBytes", "responseBytes"]
      : ["body", "bytes"];
  return (
    fields.length > 0 &&
    fields.every(([name, text]) => allowed.includes(name) && typeof text === "string") &&
    (kind === "step-log" || typeof (value as { body?: unknown }).body === "string")
  );
}

function additionalData(kind: RawMessageKind, keyId: string): Buffer {
  return Buffer.from(`capflow raw message v1|${kind}|${keyId}`, "utf8");
}

function b64(text: string, length?: number): Buffer {
  const bytes = Buffer.from(text, "base64");
  if (length !== undefined && bytes.length !== length)
    throw new CapflowError(
      "RAW_MESSAGE_DECRYPT_FAILED",
      "a sealed raw message field has the wrong length",
    );
  return bytes;
}
