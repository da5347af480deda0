import {
  allowOnly,
  binaryEncodings,
  isObject,
  locations,
  type NeedKey,
  oneOf,
  type Report,
} from "./option-checks.ts";

const asymmetric = [
  "rsa-sha1",
  "rsa-sha256",
  "rsa-pss-sha256",
  "sm2-sm3",
  "cms-rsa-sha256",
  "cms-sm2-sm3",
];
const symmetric = ["md5", "sha256", "sm3", "hmac-sha256", "hmac-sm3"];

/**
 * Whether a message's signature covers its timestamp: otherwise a replay window checks a value an
 * attacker may change. Over the plain text of an encrypted message only the plaintext is signed,
 * and the timestamp travels in the envelope. A template's `{field:name}` reads a field of the
 * signed fields, so it covers a timestamp in the body only; `{header:name}` one in a header only.
 * A JSON member or XML element covers it only when it is the timestamp itself: the timestamp is a
 * top-level field of the body, next to the member signed.
 */
export function signatureCoversTimestamp(
  timestamp: Record<string, unknown>,
  signature: Record<string, unknown>,
): boolean {
  const canonical = isObject(signature.canonical) ? signature.canonical : {};
  const name = typeof timestamp.name === "string" ? timestamp.name : "";
  if (canonical.kind === "template") {
    const template = typeof canonical.template === "string" ? canonical.template : "";
    if (template.includes("{timestamp}")) return true;
    if (name === "") return false;
    if (timestamp.in === "header")
      return template.toLowerCase().includes(`{header:${name.toLowerCase()}}`);
    return (
      timestamp.in === "body" && signature.over !== "plain" && template.includes(`{field:${name}}`)
    );
  }
  if (signature.over === "plain" || timestamp.in !== "body") return false;
  if (canonical.kind === "rawBody") return true;
  if (canonical.kind === "jsonMember") {
    if (typeof canonical.member === "string") return canonical.member === name;
    // A pattern that matches the timestamp's name signs it: a body where it matches twice is refused.
    return typeof canonical.pattern === "string" && matches(canonical.pattern, name);
  }
  if (canonical.kind === "xmlElement") return canonical.element === name;
  const include = Array.isArray(canonical.include) ? canonical.include : undefined;
  const exclude = Array.isArray(canonical.exclude) ? canonical.exclude : [];
  return !exclude.includes(name) && (include === undefined || include.includes(name));
}

function matches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

export function validateSignature(
  signature: unknown,
  p: string,
  { encryption, needKey, report }: { encryption: unknown; needKey: NeedKey; report: Report },
): void {
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
      "cms",
      "placement",
    ],
    report,
  );
  const algorithm = signature.algorithm;
  if (!oneOf(algorithm, `${p}/algorithm`, [...symmetric, ...asymmetric], report, false)) return;
  oneOf(signature.output, `${p}/output`, binaryEncodings, report, true);
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
  if (signature.cms !== undefined) validateCms(signature.cms, algorithm, `${p}/cms`, report);
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

function validateCms(value: unknown, algorithm: unknown, p: string, report: Report): void {
  if (algorithm !== "cms-rsa-sha256" && algorithm !== "cms-sm2-sm3") {
    report(p, "cms options apply to the cms-rsa-sha256 and cms-sm2-sm3 algorithms only");
    return;
  }
  if (!isObject(value)) {
    report(p, "cms must be an object");
    return;
  }
  allowOnly(
    value,
    p,
    ["attached", "signedAttributes", "includeCertificate", "signerSerial", "signerSubject", "oids"],
    report,
  );
  if (value.oids !== undefined) {
    if (algorithm !== "cms-sm2-sm3")
      report(`${p}/oids`, "oids choose GM/T 0010 or PKCS#7 content types for cms-sm2-sm3 only");
    else oneOf(value.oids, `${p}/oids`, ["gm", "pkcs7"], report, true);
  }
  for (const flag of ["attached", "signedAttributes", "includeCertificate"]) {
    if (value[flag] !== undefined && typeof value[flag] !== "boolean")
      report(`${p}/${flag}`, `${flag} is true or false`);
  }
  if (value.signerSerial !== undefined && !/^[0-9a-fA-F:]+$/.test(String(value.signerSerial)))
    report(`${p}/signerSerial`, "signerSerial is the certificate serial number in hex");
  if (value.signerSubject !== undefined && !/^\s*\w+=/.test(String(value.signerSubject)))
    report(
      `${p}/signerSubject`,
      'signerSubject lists subject attributes, e.g. "CN=h2h.bank.example, O=Bank"',
    );
}

function validateCanonical(value: unknown, p: string, report: Report): void {
  if (!isObject(value)) {
    report(
      p,
      'canonical is required: { "kind": "sortedFields" | "rawBody" | "template" | "jsonMember" | "xmlElement" }',
    );
    return;
  }
  if (
    !oneOf(
      value.kind,
      `${p}/kind`,
      ["sortedFields", "rawBody", "template", "jsonMember", "xmlElement"],
      report,
      false,
    )
  )
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
  } else if (value.kind === "jsonMember") {
    allowOnly(value, p, ["kind", "member", "pattern"], report);
    if ((value.member === undefined) === (value.pattern === undefined)) {
      report(
        p,
        'name the member the signature covers: "member" (its name) or "pattern" (a regular expression), one of them',
      );
    } else if (value.member !== undefined && typeof value.member !== "string") {
      report(`${p}/member`, "member is the member's name");
    } else if (value.pattern !== undefined && !isRegExp(value.pattern)) {
      report(`${p}/pattern`, "pattern must be a regular expression such as _response$");
    }
  } else if (value.kind === "xmlElement") {
    allowOnly(value, p, ["kind", "element"], report);
    if (typeof value.element !== "string" || !/^[A-Za-z_][\w.:-]*$/.test(value.element)) {
      report(`${p}/element`, 'element is the name of the element signed, e.g. "body"');
    }
  } else {
    allowOnly(value, p, ["kind"], report);
  }
}

function isRegExp(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    new RegExp(value);
    return true;
  } catch {
    return false;
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
