import { CapflowError } from "../../errors.ts";
import { encodeText } from "../../message/charset.ts";
import type { Codec } from "../../message/codec.ts";
import { decodeBinary } from "../encoding.ts";
import { configInvalid, decryptFailed, verifyFailed } from "../failures.ts";
import type { OpenedMessage } from "../handler.ts";
import type { PublicKey } from "../keys/loaded-keys.ts";
import type { CompiledProfile } from "./compile-profile.ts";
import { type Fields, type IncomingMessage, isFields } from "./messages.ts";
import type { FieldLocation } from "./options.ts";
import { pathWithQuery, queryWithoutSignature, readPlacedValue } from "./placement.ts";
import { trustedKeys } from "./trusted-keys.ts";
import { selectVerificationKeys } from "./verification-keys.ts";

/** The check a message part is read for; a part that cannot be read fails that check. */
type Check = "verification" | "decryption";

/**
 * Opens one incoming message: checks the replay window, verifies the signature and decrypts, in
 * the order the profile implies (encrypt-then-sign verifies before anything is decrypted; a
 * signature over the plain body needs the plaintext first), then decodes and opens the resource.
 * Every failure is `CRYPTO_VERIFY_FAILED` or `CRYPTO_DECRYPT_FAILED`, whichever check failed.
 */
export async function openMessage(
  compiled: CompiledProfile,
  message: IncomingMessage,
  codec: Codec,
): Promise<OpenedMessage> {
  const { profile: p, keys, clock, context, encryption, resource, signature } = compiled;
  const { headers, query } = message;
  let wire: Fields | undefined;
  if (encryption !== undefined) {
    wire = encryption.parseEnvelope(message.body);
  } else if (compiled.needsBodyObject) {
    const decoded = codec.decode(message.body);
    if (!isFields(decoded))
      throw new CapflowError(
        "CODEC_DECODE_FAILED",
        `the ${codec.format} body is not an object of fields, which this profile reads`,
        { context },
      );
    wire = decoded;
  }
  // An envelope that cannot be read fails the first check that reads it: the signature (its
  // fields or placements) or else the decryption. A signature over the raw envelope text can
  // verify without reading it.
  const wireFor = (check: Check): Fields | undefined => {
    if (wire !== undefined || encryption === undefined) return wire;
    const what = "the body is not the configured envelope";
    throw check === "verification" ? verifyFailed(what, context) : decryptFailed(what, context);
  };
  const read = (location: FieldLocation | undefined): string | undefined =>
    readPlacedValue(location, message, () => wireFor("verification"));
  let plainText: string | undefined;
  const decrypt = async () => {
    if (encryption !== undefined)
      plainText = await encryption.open(wireFor("decryption") as Fields, message.charset);
  };
  let body: unknown;
  // Decrypting never decodes: unauthenticated plaintext is decoded only after verification,
  // except for a field signature over the plain body, which needs the fields to verify.
  if (signature === undefined) {
    if (compiled.windowMs !== undefined) checkReplayWindow(read(compiled.timestampAt) ?? "");
    await decrypt();
  } else {
    const placement = signature.part.placement;
    let captured: Record<string, string> = {};
    let sigText: string | undefined;
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
    const ts = read(compiled.timestampAt) ?? captured.timestamp ?? "";
    const nonce = read(compiled.nonceAt) ?? captured.nonce ?? "";
    if (compiled.windowMs !== undefined) checkReplayWindow(ts);
    const over = signature.overPlain;
    if (over) {
      await decrypt();
      if (signature.part.canonical.kind !== "rawBody" && plainText !== undefined)
        body = codec.decode(plainText);
    }
    const keyId = read(p.keyId) ?? captured.serial;
    let candidates: (PublicKey | undefined)[] = signature.scheme.symmetric
      ? [undefined]
      : selectVerificationKeys(keys.verifying, keyId);
    if (candidates.length === 0) {
      throw verifyFailed(
        `unknown key id ${keyId ?? ""}`.trim(),
        { ...context, keyId },
        "Add the partner's new certificate to keys.verifying (rotation) or check the key id.",
      );
    }
    // CMS checks its signer's certificate itself; other schemes' keys are checked here.
    if (keys.trust !== undefined && !signature.scheme.symmetric && !signature.certifiesSigner) {
      candidates = await trustedKeys(candidates, keys.trust, keyId, context);
    }
    const bytes = decodeBinary(sigText, signature.output);
    if (bytes === undefined)
      throw verifyFailed(`signature is not valid ${signature.output}`, context);
    const fields = over
      ? isFields(body)
        ? body
        : undefined
      : signature.needsWireFields
        ? wireFor("verification")
        : wire;
    const signedText = over ? (plainText ?? message.body) : message.body;
    const canonical = signature.canonical({
      method: message.method,
      path: signature.needsPath
        ? pathWithQuery(message.path, queryWithoutSignature(query, signature.part))
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
    if (canonical === undefined)
      throw verifyFailed("the body has no single member or element the signature covers", context);
    const data = encodeText(canonical, message.charset, context);
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
    if (!over) await decrypt();
  }
  if (body === undefined) {
    body = plainText !== undefined ? codec.decode(plainText) : (wire ?? codec.decode(message.body));
  }
  let text = plainText ?? message.body;
  if (resource !== undefined) {
    if (!isFields(body))
      throw configInvalid(
        "the opened body must be an object for this profile (fields, body placements or a resource)",
        context,
      );
    body = resource.open(body);
    text = JSON.stringify(body);
  }
  return { headers, query, body, text, charset: message.charset };

  function checkReplayWindow(ts: string): void {
    const at = compiled.timestamp?.parse(ts);
    if (at === undefined) throw verifyFailed("timestamp missing or malformed", context);
    if (Math.abs(clock.now() - at) > (compiled.windowMs ?? 0)) {
      throw verifyFailed(
        `timestamp outside the replay window of ${p.timestamp?.window}`,
        context,
        "Check the partner's clock and the window; a replayed message also ends here.",
      );
    }
  }
}
