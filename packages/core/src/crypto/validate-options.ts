import type { CryptoOptionProblem } from "./handler-registry.ts";
import { referenceScheme } from "./secret-reference.ts";

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
  return problems;
}

type Report = (pointer: string, message: string) => void;

const keyRoleNames = [
  "signing",
  "verifying",
  "encryption",
  "decryption",
  "secret",
  "contentKey",
  "resourceKey",
];

function validateKeys(keys: unknown, report: Report): void {
  if (!isObject(keys)) {
    report("/keys", "keys must be an object of key roles");
    return;
  }
  allowOnly(keys, "/keys", keyRoleNames, report);
  for (const [role, spec] of Object.entries(keys)) {
    if (role === "verifying" && Array.isArray(spec)) {
      if (spec.length === 0) report("/keys/verifying", "give at least one verification key");
      spec.forEach((s, i) => {
        validateKeySpec(s, `/keys/verifying/${i}`, report);
      });
    } else if (keyRoleNames.includes(role)) {
      validateKeySpec(spec, `/keys/${role}`, report);
    }
  }
}

function validateKeySpec(spec: unknown, pointer: string, report: Report): void {
  if (!isObject(spec)) {
    report(pointer, 'a key is an object such as { "ref": "file:keys/partner.pem" }');
    return;
  }
  allowOnly(spec, pointer, ["ref", "format", "password", "id", "certificate"], report);
  if (typeof spec.ref !== "string" || spec.ref === "") {
    report(
      `${pointer}/ref`,
      "ref is required: a secret reference such as env:NAME or file:keys/x.pem",
    );
  } else if (referenceScheme(spec.ref) === undefined) {
    report(
      `${pointer}/ref`,
      "ref must start with a scheme (env:, file:, or one your resolver adds); keys are referenced, not inlined",
    );
  }
  oneOf(spec.format, `${pointer}/format`, ["pem", "pkcs12", "hex", "base64", "utf8"], report, true);
  for (const field of ["password", "id", "certificate"]) {
    if (spec[field] !== undefined && typeof spec[field] !== "string") {
      report(`${pointer}/${field}`, `${field} must be a string`);
    }
  }
  if (typeof spec.password === "string" && referenceScheme(spec.password) === undefined) {
    report(
      `${pointer}/password`,
      "password must be a secret reference (env:NAME, file:path), not the password itself",
    );
  }
  if (spec.format === "pkcs12" && spec.password === undefined) {
    report(`${pointer}/password`, "a PKCS#12 key needs a password reference (env:NAME)");
  }
}

const asymmetric = ["rsa-sha1", "rsa-sha256", "rsa-pss-sha256", "sm2-sm3"];
const symmetric = ["md5", "sha256", "sm3", "hmac-sha256", "hmac-sm3"];
const locations = ["body", "header", "query"];

/**
 * Whether a message's signature covers its timestamp: otherwise a replay window checks a value an
 * attacker may change. Over the plain text of an encrypted message only the plaintext is signed,
 * and the timestamp travels in the envelope.
 */
function signatureCoversTimestamp(
  timestamp: Record<string, unknown>,
  signature: Record<string, unknown>,
): boolean {
  const canonical = isObject(signature.canonical) ? signature.canonical : {};
  const name = typeof timestamp.name === "string" ? timestamp.name : "";
  if (canonical.kind === "template") {
    const template = typeof canonical.template === "string" ? canonical.template : "";
    return (
      template.includes("{timestamp}") ||
      (name !== "" &&
        (template.includes(`{field:${name}}`) ||
          template.toLowerCase().includes(`{header:${name.toLowerCase()}}`)))
    );
  }
  if (signature.over === "plain" || timestamp.in !== "body") return false;
  if (canonical.kind === "rawBody") return true;
  const include = Array.isArray(canonical.include) ? canonical.include : undefined;
  const exclude = Array.isArray(canonical.exclude) ? canonical.exclude : [];
  return !exclude.includes(name) && (include === undefined || include.includes(name));
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
  if (resource !== undefined) {
    const p = `${at}/resource`;
    if (!isObject(resource)) report(p, "resource must be an object");
    else {
      allowOnly(
        resource,
        p,
        [
          "field",
          "cipher",
          "ciphertext",
          "nonce",
          "associatedData",
          "algorithmField",
          "algorithmName",
        ],
        report,
      );
      if (typeof resource.field !== "string")
        report(`${p}/field`, "field (the body field holding the resource) is required");
      oneOf(resource.cipher, `${p}/cipher`, ["aes-128-gcm", "aes-256-gcm"], report, true);
      needKey("resourceKey", p, "resource decryption");
    }
  }
  if (signature !== undefined) {
    const p = `${at}/signature`;
    if (!isObject(signature)) {
      report(p, "signature must be an object");
      return;
    }
    allowOnly(
      signature,
      p,
      [
        "algorithm",
        "output",
        "canonical",
        "over",
        "appendKey",
        "userId",
        "sm2Encoding",
        "saltLength",
        "placement",
      ],
      report,
    );
    const algorithm = signature.algorithm;
    if (!oneOf(algorithm, `${p}/algorithm`, [...symmetric, ...asymmetric], report, false)) return;
    oneOf(
      signature.output,
      `${p}/output`,
      ["hex", "hex-upper", "base64", "base64url"],
      report,
      true,
    );
    oneOf(signature.over, `${p}/over`, ["wire", "plain"], report, true);
    oneOf(signature.sm2Encoding, `${p}/sm2Encoding`, ["raw", "der"], report, true);
    if (symmetric.includes(algorithm as string)) {
      if (algorithm !== "md5" && algorithm !== "sha256" && algorithm !== "sm3")
        needKey("secret", `${p}/algorithm`, `${String(algorithm)}`);
      else if (signature.appendKey === undefined)
        // Anyone can compute a digest of what they send: without the shared key it proves nothing.
        report(
          `${p}/appendKey`,
          `a ${String(algorithm)} signature needs the shared key appended: set appendKey (e.g. "&key=") and keys.secret as the funder's signing rule says`,
        );
      else needKey("secret", `${p}/appendKey`, "appendKey");
    } else {
      if (signature.appendKey !== undefined)
        report(`${p}/appendKey`, "appendKey applies to digest and HMAC signatures only");
      needKey("signing", `${p}/algorithm`, `${String(algorithm)} signing`);
      needKey("verifying", `${p}/algorithm`, `${String(algorithm)} verification`);
    }
    validateCanonical(signature.canonical, `${p}/canonical`, report);
    validatePlacement(signature.placement, `${p}/placement`, report);
    if (signature.over === "plain" && encryption === undefined) {
      report(
        `${p}/over`,
        "over: plain signs the body before encryption; without encryption in this profile, sign the wire message (remove over)",
      );
    }
    if (
      isObject(signature.canonical) &&
      signature.canonical.kind === "rawBody" &&
      isObject(signature.placement) &&
      signature.placement.in === "body" &&
      signature.over !== "plain"
    ) {
      report(
        `${p}/placement`,
        "a signature over the raw wire body cannot be placed inside that body; use a header, the query, or over: plain",
      );
    }
  }
}

function validateEncryption(
  value: unknown,
  p: string,
  needKey: (role: string, pointer: string, why: string) => void,
  report: Report,
): void {
  if (!isObject(value)) {
    report(p, "encryption must be an object");
    return;
  }
  allowOnly(
    value,
    p,
    ["cipher", "contentKey", "wrap", "sm2PointPrefix", "iv", "aad", "encoding", "envelope"],
    report,
  );
  const cipher = value.cipher;
  oneOf(
    cipher,
    `${p}/cipher`,
    [
      "aes-128-cbc",
      "aes-256-cbc",
      "aes-128-ecb",
      "aes-256-ecb",
      "aes-128-gcm",
      "aes-256-gcm",
      "sm4-cbc",
      "sm4-ecb",
    ],
    report,
    false,
  );
  oneOf(value.iv, `${p}/iv`, ["field", "prefix", "zero"], report, true);
  oneOf(value.encoding, `${p}/encoding`, ["hex", "hex-upper", "base64", "base64url"], report, true);
  if (value.aad !== undefined && (typeof cipher !== "string" || !cipher.endsWith("gcm"))) {
    report(`${p}/aad`, "aad applies to GCM ciphers only");
  }
  if (value.iv === "zero" && typeof cipher === "string" && cipher.endsWith("gcm")) {
    report(`${p}/iv`, "a fixed zero nonce breaks GCM; use prefix or field");
  }
  if (!oneOf(value.contentKey, `${p}/contentKey`, ["wrapped", "shared"], report, false)) return;
  if (value.contentKey === "wrapped") {
    if (
      oneOf(
        value.wrap,
        `${p}/wrap`,
        ["rsa-oaep-sha1", "rsa-oaep-sha256", "rsa-pkcs1", "sm2-c1c3c2", "sm2-c1c2c3"],
        report,
        false,
      )
    ) {
      needKey("encryption", `${p}/wrap`, "wrapping content keys");
      needKey("decryption", `${p}/wrap`, "unwrapping content keys");
    }
  } else {
    if (value.wrap !== undefined)
      report(
        `${p}/wrap`,
        "a shared content key is not wrapped; remove wrap or use contentKey: wrapped",
      );
    needKey("contentKey", `${p}/contentKey`, "a shared content key");
  }
  const envelope = value.envelope;
  const e = `${p}/envelope`;
  if (!isObject(envelope)) {
    report(e, 'envelope is required: { "data": "data", "key": "key" }');
    return;
  }
  allowOnly(envelope, e, ["format", "data", "key", "iv"], report);
  oneOf(envelope.format, `${e}/format`, ["json", "form"], report, true);
  if (typeof envelope.data !== "string")
    report(`${e}/data`, "data (the ciphertext field) is required");
  if (value.contentKey === "wrapped" && typeof envelope.key !== "string")
    report(`${e}/key`, "key (the wrapped key field) is required for wrapped content keys");
  if (value.iv === "field" && typeof envelope.iv !== "string")
    report(`${e}/iv`, "iv field name is required when iv is field");
}

function validateCanonical(value: unknown, p: string, report: Report): void {
  if (!isObject(value)) {
    report(p, 'canonical is required: { "kind": "sortedFields" | "rawBody" | "template" }');
    return;
  }
  if (!oneOf(value.kind, `${p}/kind`, ["sortedFields", "rawBody", "template"], report, false))
    return;
  if (value.kind === "sortedFields") {
    allowOnly(
      value,
      p,
      ["kind", "include", "exclude", "emptyValues", "values", "separator", "keyValueSeparator"],
      report,
    );
    for (const list of ["include", "exclude"]) {
      const v = value[list];
      if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === "string")))
        report(`${p}/${list}`, `${list} is a list of field names`);
    }
    oneOf(value.emptyValues, `${p}/emptyValues`, ["drop", "keep"], report, true);
    oneOf(value.values, `${p}/values`, ["raw", "urlEncoded"], report, true);
  } else if (value.kind === "template") {
    allowOnly(value, p, ["kind", "template"], report);
    if (typeof value.template !== "string")
      report(
        `${p}/template`,
        'template is required, e.g. "{method}\\n{path}\\n{timestamp}\\n{nonce}\\n{body}\\n"',
      );
    else {
      for (const m of value.template.matchAll(/\{([^}]*)\}/g)) {
        const name = m[1] ?? "";
        if (
          !["method", "path", "timestamp", "nonce", "body"].includes(name) &&
          !/^(header|field):.+/.test(name)
        ) {
          report(
            `${p}/template`,
            `unknown part {${name}}; use {method}, {path}, {timestamp}, {nonce}, {body}, {header:name} or {field:name}`,
          );
        }
      }
    }
  } else {
    allowOnly(value, p, ["kind"], report);
  }
}

function validatePlacement(value: unknown, p: string, report: Report): void {
  if (!isObject(value)) {
    report(p, 'placement is required: { "in": "body" | "header" | "query", "name": … }');
    return;
  }
  if (!oneOf(value.in, `${p}/in`, locations, report, false)) return;
  if (typeof value.name !== "string" || value.name === "") report(`${p}/name`, "name is required");
  if (value.in === "header") {
    allowOnly(value, p, ["in", "name", "template", "values"], report);
    if (value.template !== undefined) {
      if (typeof value.template !== "string" || !value.template.includes("{signature}")) {
        report(`${p}/template`, "template must contain {signature}");
      } else {
        const values = isObject(value.values) ? value.values : {};
        for (const m of value.template.matchAll(/\{([^}]*)\}/g)) {
          const name = m[1] ?? "";
          if (
            !["signature", "timestamp", "nonce", "serial"].includes(name) &&
            typeof values[name] !== "string"
          ) {
            report(`${p}/template`, `{${name}} is neither a built-in part nor a key of values`);
          }
        }
      }
    }
  } else {
    allowOnly(value, p, ["in", "name"], report);
  }
}

function optionalLocation(value: Record<string, unknown>, p: string, report: Report): void {
  if (value.in === undefined) return;
  oneOf(value.in, `${p}/in`, locations, report, false);
  if (typeof value.name !== "string") report(`${p}/name`, "name is required when in is given");
}

function oneOf(
  value: unknown,
  pointer: string,
  allowed: string[],
  report: Report,
  optional: boolean,
): boolean {
  if (value === undefined) {
    if (!optional) report(pointer, `required: one of ${allowed.join(", ")}`);
    return false;
  }
  if (typeof value !== "string" || !allowed.includes(value)) {
    report(pointer, `must be one of ${allowed.join(", ")}`);
    return false;
  }
  return true;
}

function allowOnly(
  value: Record<string, unknown>,
  pointer: string,
  allowed: string[],
  report: Report,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      report(
        `${pointer}/${escapePointer(key)}`,
        `unknown option "${key}"; allowed: ${allowed.join(", ")}`,
      );
  }
}

function isDuration(value: unknown): boolean {
  return typeof value === "string" && /^\d+(ms|s|m|h|d)$/.test(value);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
