import type { CryptoOptionProblem } from "../handler-registry.ts";
import {
  allowOnly,
  isDuration,
  isObject,
  locations,
  oneOf,
  optionalLocation,
  type Report,
} from "./option-checks.ts";
import { validateEncryption, validateResource } from "./validate-encryption.ts";
import { validateKeys } from "./validate-keys.ts";
import { signatureCoversTimestamp, validateSignature } from "./validate-signature.ts";

/**
 * Checks `configurable` handler options and reports every problem with a JSON pointer relative to
 * the options object (the definition validator prefixes `/crypto/options`). Written by hand rather
 * than as a JSON Schema so that cross-field rules (an RSA signature needs `keys.signing`, a wrapped
 * content key needs `wrap`) are reported at the field the author must change.
 */
export function validateConfigurableOptions(options: unknown): CryptoOptionProblem[] {
  const problems: CryptoOptionProblem[] = [];
  const report = (pointer: string, message: string) => problems.push({ pointer, message });
  if (!isObject(options)) {
    report("", "options must be an object");
    return problems;
  }
  allowOnly(
    options,
    "",
    ["role", "keys", "request", "response", "callback", "callbackAck"],
    report,
  );
  oneOf(options.role, "/role", ["client", "partner"], report, true);
  const keys = options.keys;
  if (keys !== undefined) validateKeys(keys, report);
  const keyRoles = isObject(keys) ? new Set(Object.keys(keys)) : new Set<string>();
  for (const profile of ["request", "response", "callback", "callbackAck"] as const) {
    const value = options[profile];
    if (value !== undefined) validateProfile(value, `/${profile}`, keyRoles, report);
  }
  for (const profile of ["response", "callback"] as const) {
    const value = options[profile];
    if (isObject(value)) checkIncomingSender(value, `/${profile}`, profile, report);
  }
  return problems;
}

/**
 * A message the platform receives (an answer or a callback) must prove who sent it. A content key
 * wrapped with the platform's public key proves nothing: that key is handed to the funder and is
 * no secret, so anyone can wrap a key of their own and encrypt whatever they like. Such a profile
 * needs the funder's signature.
 */
function checkIncomingSender(
  profile: Record<string, unknown>,
  at: string,
  name: "response" | "callback",
  report: Report,
): void {
  const encryption = profile.encryption;
  if (!isObject(encryption) || encryption.contentKey !== "wrapped") return;
  if (profile.signature !== undefined) return;
  report(
    `${at}/encryption/contentKey`,
    `a ${name} encrypted with a wrapped content key but not signed would open for anyone: the key is wrapped with the platform's public key, which is no secret. Add a signature the funder makes with its private key (signature, with keys.verifying holding the funder's public key); a funder that does not sign cannot be trusted with this profile`,
  );
}

function validateProfile(
  profile: unknown,
  at: string,
  keyRoles: Set<string>,
  report: Report,
): void {
  if (!isObject(profile)) {
    report(at, "a message profile is an object");
    return;
  }
  allowOnly(
    profile,
    at,
    ["timestamp", "nonce", "keyId", "fields", "encryption", "resource", "signature"],
    report,
  );
  const needKey = (role: string, pointer: string, why: string) => {
    if (!keyRoles.has(role)) report(pointer, `${why} needs keys.${role}`);
  };
  const { timestamp, nonce, keyId, fields, encryption, resource, signature } = profile;
  if (timestamp !== undefined) {
    const p = `${at}/timestamp`;
    if (!isObject(timestamp)) report(p, "timestamp must be an object");
    else {
      allowOnly(timestamp, p, ["in", "name", "format", "pattern", "timeZone", "window"], report);
      optionalLocation(timestamp, p, report);
      oneOf(
        timestamp.format,
        `${p}/format`,
        ["unixSeconds", "unixMillis", "iso8601", "pattern"],
        report,
        true,
      );
      if (timestamp.format === "pattern" && typeof timestamp.pattern !== "string") {
        report(`${p}/pattern`, "format pattern needs a Luxon pattern such as yyyyMMddHHmmss");
      }
      if (timestamp.window !== undefined && !isDuration(timestamp.window)) {
        report(`${p}/window`, "window is a duration such as 5m");
      } else if (
        timestamp.window !== undefined &&
        isObject(signature) &&
        !signatureCoversTimestamp(timestamp, signature)
      ) {
        report(
          `${p}/window`,
          "the signature does not cover this timestamp, so anyone can refresh it and the window stops no replay; sign it (a canonical template with {timestamp}, or fields over the wire) or drop window (callbacks are deduplicated by dedupeKey anyway)",
        );
      }
    }
  }
  if (nonce !== undefined) {
    const p = `${at}/nonce`;
    if (!isObject(nonce)) report(p, "nonce must be an object");
    else {
      allowOnly(nonce, p, ["in", "name", "length", "alphabet"], report);
      optionalLocation(nonce, p, report);
      if (
        nonce.length !== undefined &&
        !(
          Number.isInteger(nonce.length) &&
          (nonce.length as number) >= 8 &&
          (nonce.length as number) <= 64
        )
      ) {
        report(`${p}/length`, "length is an integer from 8 to 64");
      }
      oneOf(nonce.alphabet, `${p}/alphabet`, ["alphanumeric", "hex"], report, true);
    }
  }
  if (keyId !== undefined) {
    const p = `${at}/keyId`;
    if (!isObject(keyId)) report(p, "keyId must be an object { in, name }");
    else {
      allowOnly(keyId, p, ["in", "name"], report);
      oneOf(keyId.in, `${p}/in`, locations, report, false);
      if (typeof keyId.name !== "string") report(`${p}/name`, "name is required");
    }
  }
  if (
    fields !== undefined &&
    (!isObject(fields) || Object.values(fields).some((v) => typeof v !== "string"))
  ) {
    report(`${at}/fields`, "fields maps names to string values");
  }
  if (encryption !== undefined) validateEncryption(encryption, `${at}/encryption`, needKey, report);
  if (resource !== undefined) validateResource(resource, `${at}/resource`, needKey, report);
  if (signature !== undefined)
    validateSignature(signature, `${at}/signature`, { encryption, needKey, report });
}
