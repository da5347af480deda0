import { encodeText } from "../../message/charset.ts";
import { encodeBinary } from "../encoding.ts";
import { configInvalid } from "../failures.ts";
import type { CompiledProfile } from "./compile-profile.ts";
import { type Fields, isFields, type OutgoingMessage, type SealedMessage } from "./messages.ts";
import { createNonce } from "./nonce.ts";
import { pathWithQuery, placeValue } from "./placement.ts";

const envelopeTypes = {
  json: "application/json; charset=utf-8",
  form: "application/x-www-form-urlencoded; charset=utf-8",
};

/**
 * Seals one outgoing message: encrypts the resource, then the body into an envelope, places the
 * timestamp, nonce, key id and static fields, signs and places the signature, and encodes once.
 */
export async function sealMessage(
  compiled: CompiledProfile,
  message: OutgoingMessage,
): Promise<SealedMessage> {
  const { profile: p, keys, clock, context, encryption, resource, signature } = compiled;
  const headers = { ...message.headers };
  const query = { ...message.query };
  const codec = message.codec;
  const asFields = (value: unknown, what: string): Fields => {
    if (!isFields(value))
      throw configInvalid(
        `${what} must be an object for this profile (fields, body placements or a resource)`,
        context,
      );
    return value;
  };
  let plainBody = message.body;
  if (resource !== undefined) plainBody = resource.seal(asFields(plainBody, "the business body"));
  const ts = compiled.timestamp === undefined ? "" : compiled.timestamp.format(clock.now());
  const nonce = p.nonce === undefined ? "" : createNonce(p.nonce);
  const serial = keys.signing?.id ?? "";
  // The wire object: the envelope when encrypting, else the business body itself.
  let wire: Fields | undefined;
  let plainText: string | undefined;
  if (encryption !== undefined) {
    plainText = codec.encode(plainBody);
    wire = encryption.seal(plainText, message.charset);
  } else if (compiled.needsBodyObject) {
    wire = { ...asFields(plainBody, "the business body") };
  }
  if (wire !== undefined && p.fields !== undefined) Object.assign(wire, p.fields);
  const target = { headers, query, wire };
  if (compiled.timestampAt !== undefined) placeValue(compiled.timestampAt, ts, target);
  if (compiled.nonceAt !== undefined) placeValue(compiled.nonceAt, nonce, target);
  if (p.keyId !== undefined) placeValue(p.keyId, serial, target);
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
    const over = signature.overPlain;
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
    if (canonical === undefined)
      throw configInvalid(
        "the body has no single member or element the signature's canonical form names (jsonMember, xmlElement)",
        context,
      );
    message.onCanonical?.(canonical);
    const sig = encodeBinary(
      await signature.scheme.sign(encodeText(canonical, message.charset, context)),
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
      if (wire === undefined) throw configInvalid("a body signature needs an object body", context);
      wire[placement.name] = sig;
      text = encodeWire();
    }
  }
  if (headers["content-type"] === undefined && text !== "") {
    headers["content-type"] =
      encryption === undefined ? codec.contentType : envelopeTypes[encryption.format];
  }
  return { headers, query, body: text };
}
