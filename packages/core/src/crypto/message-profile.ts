import { randomBytes } from "node:crypto";
import type { HttpMethod } from "../definition/types.ts";
import type { ErrorContext } from "../errors.ts";
import type { Codec } from "../message/codec.ts";
import { parseJson } from "../message/codecs/parse-json.ts";
import type { Clock } from "../ports/clock.ts";
import { Redacted } from "../redacted.ts";
import {
  type CanonicalParts,
  compileCanonicalTemplate,
  compileSortedFields,
} from "./canonicalize.ts";
import { type ContentCipher, createContentCipher } from "./ciphers/content-cipher.ts";
import type { FieldLocation, MessageProfile, SignaturePart } from "./configurable-options.ts";
import { type BinaryEncoding, decodeBinary, encodeBinary } from "./encoding.ts";
import { configInvalid, decryptFailed, verifyFailed } from "./failures.ts";
import type { OpenedMessage } from "./handler.ts";
import { compileHeaderTemplate, type HeaderTemplate } from "./header-template.ts";
import { createKeyWrapper, type KeyWrapper } from "./key-wrap.ts";
import type { PrivateKey, PublicKey, SecretKey } from "./keys/loaded-keys.ts";
import { createDigestScheme } from "./signers/digest-signer.ts";
import { createRsaScheme } from "./signers/rsa-signer.ts";
import type { SignatureScheme } from "./signers/signature-scheme.ts";
import { createSm2Scheme, defaultSm2UserId } from "./signers/sm2-signer.ts";
import { createNonce, createTimestampCodec, durationMillis } from "./timestamp.ts";

export interface LoadedKeys {
  signing: PrivateKey | undefined;
  verifying: PublicKey[];
  encryption: PublicKey | undefined;
  decryption: PrivateKey | undefined;
  secret: SecretKey | undefined;
  contentKey: SecretKey | undefined;
  resourceKey: SecretKey | undefined;
}

/** A message on its way out; method and path are empty for responses. */
export interface OutgoingMessage {
  method: HttpMethod | "";
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  codec: Codec;
}

export interface IncomingMessage {
  method: HttpMethod | "";
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: string;
}

/** One profile (request, response, callback, acknowledgement) compiled against loaded keys. */
export interface ProfileCodec {
  seal(
    message: OutgoingMessage,
  ): Promise<{ headers: Record<string, string>; query: Record<string, string>; body: string }>;
  open(message: IncomingMessage, codec: Codec): Promise<OpenedMessage>;
}

type Fields = Record<string, unknown>;

const envelopeTypes = {
  json: "application/json; charset=utf-8",
  form: "application/x-www-form-urlencoded; charset=utf-8",
};

/**
 * Compiles a profile once: signature scheme, ciphers, key wrapper, templates and timestamp format
 * are built here so sealing and opening only do per-message work.
 */
export function compileProfile(
  profile: MessageProfile | undefined,
  keys: LoadedKeys,
  clock: Pick<Clock, "now">,
  context: ErrorContext,
): ProfileCodec {
  const p = profile ?? {};
  const timestamp =
    p.timestamp === undefined
      ? undefined
      : { part: p.timestamp, codec: createTimestampCodec(p.timestamp) };
  const windowMs =
    p.timestamp?.window === undefined ? undefined : durationMillis(p.timestamp.window);
  const signature =
    p.signature === undefined ? undefined : compileSignature(p.signature, keys, context);
  const encryption = compileEncryption(p, keys, context);
  const resource = compileResource(p, keys, context);
  const needsBodyObject =
    p.encryption === undefined &&
    (p.fields !== undefined ||
      p.timestamp?.in === "body" ||
      p.nonce?.in === "body" ||
      p.keyId?.in === "body" ||
      p.signature?.placement.in === "body" ||
      p.signature?.canonical.kind === "sortedFields" ||
      (p.signature?.canonical.kind === "template" &&
        /\{field:/.test(p.signature.canonical.template)));

  const timestampAt = locationOf(p.timestamp);
  const nonceAt = locationOf(p.nonce);

  async function seal(message: OutgoingMessage) {
    const headers = { ...message.headers };
    const query = { ...message.query };
    const codec = message.codec;
    let plainBody = message.body;
    if (resource !== undefined) plainBody = resource.seal(asFields(plainBody, "the business body"));
    const ts = timestamp === undefined ? "" : timestamp.codec.format(clock.now());
    const nonce = p.nonce === undefined ? "" : createNonce(p.nonce);
    const serial = keys.signing?.id ?? "";
    // The wire object: the envelope when encrypting, else the business body itself.
    let wire: Fields | undefined;
    let plainText: string | undefined;
    if (encryption !== undefined) {
      plainText = codec.encode(plainBody);
      wire = encryption.seal(plainText);
    } else if (needsBodyObject) {
      wire = { ...asFields(plainBody, "the business body") };
    }
    if (wire !== undefined && p.fields !== undefined) Object.assign(wire, p.fields);
    const target = { headers, query, wire };
    if (timestampAt !== undefined) place(timestampAt, ts, target);
    if (nonceAt !== undefined) place(nonceAt, nonce, target);
    if (p.keyId !== undefined) place(p.keyId, serial, target);
    const encodeWire = (): string =>
      wire === undefined
        ? codec.encode(plainBody)
        : encryption === undefined
          ? codec.encode(wire)
          : encryption.encodeEnvelope(wire);
    // Encode once: a body-placed signature re-encodes after adding itself, so skip the first
    // encoding unless the canonical string needs the body text.
    const bodyPlaced = signature?.part.placement.in === "body";
    let text = bodyPlaced && !signature?.needsBodyText ? "" : encodeWire();
    if (signature !== undefined) {
      const over = signature.part.over === "plain";
      const fields = over ? (isFields(plainBody) ? plainBody : undefined) : wire;
      const bodyText = !signature.needsBodyText
        ? ""
        : over
          ? (plainText ?? codec.encode(plainBody))
          : text;
      const canonical = signature.canonical({
        method: message.method,
        path: signature.needsPath ? pathWithQuery(message.path, query) : message.path,
        timestamp: ts,
        nonce,
        body: bodyText,
        headers,
        fields,
        fieldsFormat: over || encryption === undefined ? codec.format : encryption.format,
      });
      const sig = encodeBinary(
        await signature.scheme.sign(Buffer.from(canonical, "utf8")),
        signature.output,
      );
      const placement = signature.part.placement;
      if (placement.in === "header") {
        headers[placement.name.toLowerCase()] = signature.header.render({
          signature: sig,
          timestamp: ts,
          nonce,
          serial,
        });
      } else if (placement.in === "query") {
        query[placement.name] = sig;
      } else {
        if (wire === undefined)
          throw configInvalid("a body signature needs an object body", context);
        wire[placement.name] = sig;
        text = encodeWire();
      }
    }
    if (headers["content-type"] === undefined) {
      headers["content-type"] =
        encryption === undefined ? codec.contentType : envelopeTypes[encryption.format];
    }
    return { headers, query, body: text };
  }

  async function open(message: IncomingMessage, codec: Codec): Promise<OpenedMessage> {
    const { headers, query } = message;
    let wire: Fields | undefined;
    if (encryption !== undefined) {
      wire = encryption.parseEnvelope(message.body);
      if (wire === undefined) throw verifyOrDecrypt("the body is not the configured envelope");
    } else if (needsBodyObject) {
      const decoded = codec.decode(message.body);
      if (!isFields(decoded)) throw verifyFailed("the body is not an object", context);
      wire = decoded;
    }
    const read = (location: FieldLocation | undefined): string | undefined => {
      if (location?.in === undefined) return undefined;
      if (location.in === "header") return headers[location.name.toLowerCase()];
      if (location.in === "query") return query[location.name];
      const value = wire?.[location.name];
      return value === undefined || value === null ? undefined : String(value);
    };
    let captured: Record<string, string> = {};
    let sigText: string | undefined;
    if (signature !== undefined) {
      const placement = signature.part.placement;
      if (placement.in === "header") {
        const header = headers[placement.name.toLowerCase()];
        const parsed = header === undefined ? undefined : signature.header.parse(header);
        if (parsed === undefined)
          throw verifyFailed(`signature header ${placement.name} is missing or malformed`, context);
        captured = parsed;
        sigText = parsed.signature;
      } else {
        sigText = read(placement);
      }
      if (sigText === undefined || sigText === "")
        throw verifyFailed(`signature ${placement.name} is missing`, context);
    }
    const ts = read(locationOf(p.timestamp)) ?? captured.timestamp ?? "";
    const nonce = read(locationOf(p.nonce)) ?? captured.nonce ?? "";
    if (timestamp !== undefined && windowMs !== undefined) {
      const at = timestamp.codec.parse(ts);
      if (at === undefined) throw verifyFailed("timestamp missing or malformed", context);
      if (Math.abs(clock.now() - at) > windowMs) {
        throw verifyFailed(
          `timestamp outside the replay window of ${p.timestamp?.window}`,
          context,
          "Check the partner's clock and the window; a replayed message also ends here.",
        );
      }
    }
    let plainText: string | undefined;
    let body: unknown;
    // Decrypting never decodes: unauthenticated plaintext is decoded only after verification,
    // except for a field signature over the plain body, which needs the fields to verify.
    const decrypt = () => {
      if (encryption !== undefined && wire !== undefined) plainText = encryption.open(wire);
    };
    if (signature !== undefined && sigText !== undefined) {
      const over = signature.part.over === "plain";
      if (over) {
        decrypt();
        if (signature.part.canonical.kind !== "rawBody" && plainText !== undefined)
          body = codec.decode(plainText);
      }
      const keyId = read(p.keyId) ?? captured.serial;
      const candidates = signature.scheme.symmetric
        ? [undefined]
        : selectKeys(keys.verifying, keyId);
      if (candidates.length === 0) {
        throw verifyFailed(
          `unknown key id ${keyId ?? ""}`.trim(),
          { ...context, keyId },
          "Add the partner's new certificate to keys.verifying (rotation) or check the key id.",
        );
      }
      const bytes = decodeBinary(sigText, signature.output);
      if (bytes === undefined)
        throw verifyFailed(`signature is not valid ${signature.output}`, context);
      const fields = over ? (isFields(body) ? body : undefined) : wire;
      const signedText = over ? (plainText ?? message.body) : message.body;
      const canonical = signature.canonical({
        method: message.method,
        path: signature.needsPath
          ? pathWithQuery(message.path, withoutPlacement(query, signature.part))
          : message.path,
        timestamp: ts,
        nonce,
        body: signedText,
        headers,
        fields,
        // Told by the text when the fields are the body: a codec may read XML and form alike.
        fieldsFormat:
          !over && encryption !== undefined
            ? encryption.format
            : /^\s*</.test(signedText)
              ? "xml"
              : codec.format,
      });
      const data = Buffer.from(canonical, "utf8");
      let ok = false;
      for (const key of candidates) {
        if (await signature.scheme.verify(data, bytes, key)) {
          ok = true;
          break;
        }
      }
      if (!ok) {
        throw verifyFailed(
          "signature does not match",
          keyId === undefined ? context : { ...context, keyId },
        );
      }
      if (!over) decrypt();
    } else {
      decrypt();
    }
    if (body === undefined) {
      body =
        plainText !== undefined ? codec.decode(plainText) : (wire ?? codec.decode(message.body));
    }
    let text = plainText ?? message.body;
    if (resource !== undefined) {
      body = resource.open(asFields(body, "the opened body"));
      text = JSON.stringify(body);
    }
    return { headers, query, body, text };
  }

  function verifyOrDecrypt(what: string) {
    return decryptFailed(what, context);
  }

  function asFields(value: unknown, what: string): Fields {
    if (!isFields(value))
      throw configInvalid(
        `${what} must be an object for this profile (fields, body placements or a resource)`,
        context,
      );
    return value;
  }

  return { seal, open };
}

interface CompiledSignature {
  part: SignaturePart;
  scheme: SignatureScheme;
  output: BinaryEncoding;
  canonical: (parts: CanonicalParts) => string;
  header: HeaderTemplate;
  /** Whether the canonical string contains the body text (raw body, or `{body}` in a template). */
  needsBodyText: boolean;
  /** Whether it contains `{path}` (the query string is serialised only then). */
  needsPath: boolean;
}

function compileSignature(
  part: SignaturePart,
  keys: LoadedKeys,
  context: ErrorContext,
): CompiledSignature {
  const alg = part.algorithm;
  let scheme: SignatureScheme;
  let output: BinaryEncoding;
  if (alg === "sm2-sm3") {
    scheme = createSm2Scheme(
      keys.signing,
      part.userId ?? defaultSm2UserId,
      part.sm2Encoding ?? "raw",
    );
    output = part.output ?? "hex";
  } else if (alg === "rsa-sha1" || alg === "rsa-sha256" || alg === "rsa-pss-sha256") {
    scheme = createRsaScheme(alg, keys.signing, part.saltLength ?? 32);
    output = part.output ?? "base64";
  } else {
    if ((alg.startsWith("hmac") || part.appendKey !== undefined) && keys.secret === undefined) {
      throw configInvalid(`${alg} needs keys.secret`, context);
    }
    scheme = createDigestScheme(alg, keys.secret, part.appendKey);
    output = part.output ?? "hex-upper";
  }
  const canonicalSpec = part.canonical;
  const signatureField = part.placement.in === "body" ? part.placement.name : undefined;
  const sortedFields =
    canonicalSpec.kind === "sortedFields"
      ? compileSortedFields(canonicalSpec, signatureField)
      : () => "";
  const canonical =
    canonicalSpec.kind === "sortedFields"
      ? (parts: CanonicalParts) => {
          if (parts.fields === undefined)
            throw configInvalid("sortedFields needs an object body", context);
          return sortedFields(parts.fields, parts.fieldsFormat === "xml");
        }
      : canonicalSpec.kind === "rawBody"
        ? (parts: CanonicalParts) => parts.body
        : compileCanonicalTemplate(canonicalSpec.template);
  const header =
    part.placement.in === "header"
      ? compileHeaderTemplate(part.placement.template ?? "{signature}", part.placement.values)
      : compileHeaderTemplate("{signature}");
  const needsBodyText =
    canonicalSpec.kind === "rawBody" ||
    (canonicalSpec.kind === "template" && canonicalSpec.template.includes("{body}"));
  const needsPath = canonicalSpec.kind === "template" && canonicalSpec.template.includes("{path}");
  return { part, scheme, output, canonical, header, needsBodyText, needsPath };
}

interface CompiledEncryption {
  format: "json" | "form";
  seal(plainText: string): Fields;
  encodeEnvelope(envelope: Fields): string;
  parseEnvelope(text: string): Fields | undefined;
  /** Throws CRYPTO_DECRYPT_FAILED, the same for every kind of tampering. */
  open(envelope: Fields): string;
}

function compileEncryption(
  p: MessageProfile,
  keys: LoadedKeys,
  context: ErrorContext,
): CompiledEncryption | undefined {
  const part = p.encryption;
  if (part === undefined) return undefined;
  const cipher: ContentCipher = createContentCipher(part.cipher);
  const encoding = part.encoding ?? "base64";
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
    wrapper = createKeyWrapper(
      part.wrap,
      keys.encryption,
      keys.decryption,
      part.sm2PointPrefix ?? false,
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
    seal(plainText) {
      const key = shared === undefined ? randomKey(cipher.keyLength) : Redacted.reveal(shared);
      const iv = ivMode === "zero" ? Buffer.alloc(cipher.ivLength) : cipher.randomIv();
      const ct = cipher.encrypt(key, iv, Buffer.from(plainText, "utf8"), aad);
      const envelope: Fields = {};
      envelope[layout.data] = encodeBinary(
        ivMode === "prefix" ? Buffer.concat([iv, ct]) : ct,
        encoding,
      );
      if (wrapper !== undefined && layout.key !== undefined)
        envelope[layout.key] = encodeBinary(wrapper.wrap(key), encoding);
      if (ivMode === "field" && layout.iv !== undefined)
        envelope[layout.iv] = encodeBinary(iv, encoding);
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
    open(envelope) {
      const dataText = envelope[layout.data];
      if (typeof dataText !== "string") throw fail(`envelope field ${layout.data} is missing`);
      const data = decodeBinary(dataText, encoding);
      if (data === undefined) throw fail(`envelope field ${layout.data} is not ${encoding}`);
      let key: Buffer;
      if (wrapper !== undefined) {
        const wrappedText = layout.key === undefined ? undefined : envelope[layout.key];
        const wrapped =
          typeof wrappedText === "string" ? decodeBinary(wrappedText, encoding) : undefined;
        if (wrapped === undefined)
          throw fail(`envelope field ${layout.key ?? "key"} is missing or not ${encoding}`);
        // Never throws on a bad wrapped key: a wrong key fails below, like any tampering.
        key = wrapper.unwrap(wrapped, cipher.keyLength);
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
        const decoded = typeof ivText === "string" ? decodeBinary(ivText, encoding) : undefined;
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
      const text = plain.toString("utf8");
      // A random (implicitly rejected) key can still pass CBC padding 1 time in 256; invalid
      // UTF-8 catches most of those, and the signature or codec the rest.
      if (!Buffer.from(text, "utf8").equals(plain))
        throw fail("the content does not decrypt (wrong key, tampered ciphertext or tag)");
      return text;
    },
  };
}

interface CompiledResource {
  seal(body: Fields): Fields;
  open(body: Fields): Fields;
}

/** WeChat Pay APIv3 style: body.resource = { algorithm, ciphertext, nonce, associated_data }. */
function compileResource(
  p: MessageProfile,
  keys: LoadedKeys,
  context: ErrorContext,
): CompiledResource | undefined {
  const part = p.resource;
  if (part === undefined) return undefined;
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

function selectKeys(keys: PublicKey[], keyId: string | undefined): PublicKey[] {
  if (keyId === undefined || keyId === "") return keys;
  const wanted = keyId.toUpperCase();
  const byId = keys.filter((k) => k.id !== undefined && k.id.toUpperCase() === wanted);
  // Keys configured without an id stay candidates, so adding key ids is never a breaking change.
  return byId.length > 0 ? byId : keys.filter((k) => k.id === undefined);
}

/** Writes a value at its location; body locations go into the wire object. */
function place(
  location: FieldLocation,
  value: string,
  target: {
    headers: Record<string, string>;
    query: Record<string, string>;
    wire: Fields | undefined;
  },
): void {
  if (location.in === "header") target.headers[location.name.toLowerCase()] = value;
  else if (location.in === "query") target.query[location.name] = value;
  else if (target.wire !== undefined) target.wire[location.name] = value;
}

function locationOf(
  part: { in?: FieldLocation["in"]; name?: string } | undefined,
): FieldLocation | undefined {
  if (part?.in === undefined || part.name === undefined) return undefined;
  return { in: part.in, name: part.name };
}

function withoutPlacement(
  query: Record<string, string>,
  part: SignaturePart,
): Record<string, string> {
  if (part.placement.in !== "query") return query;
  const { [part.placement.name]: _, ...rest } = query;
  return rest;
}

function pathWithQuery(path: string, query: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search === "" ? path : `${path}?${search}`;
}

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function randomKey(length: number): Buffer {
  return randomBytes(length);
}
