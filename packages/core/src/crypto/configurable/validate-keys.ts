import { referenceScheme } from "../secret-reference.ts";
import { allowOnly, isObject, oneOf, type Report } from "./option-checks.ts";

const keyRoleNames = [
  "signing",
  "verifying",
  "encryption",
  "decryption",
  "secret",
  "contentKey",
  "resourceKey",
];

export function validateKeys(keys: unknown, report: Report): void {
  if (!isObject(keys)) {
    report("/keys", "keys must be an object of key roles");
    return;
  }
  allowOnly(keys, "/keys", [...keyRoleNames, "trust"], report);
  for (const [role, spec] of Object.entries(keys)) {
    if (role === "trust") {
      validateTrust(spec, keys.verifying !== undefined, report);
    } else if (role === "verifying" && Array.isArray(spec)) {
      if (spec.length === 0) report("/keys/verifying", "give at least one verification key");
      spec.forEach((s, i) => {
        validateKeySpec(s, `/keys/verifying/${i}`, report);
      });
    } else if (keyRoleNames.includes(role)) {
      validateKeySpec(spec, `/keys/${role}`, report);
    }
  }
}

function validateTrust(trust: unknown, hasVerifying: boolean, report: Report): void {
  const p = "/keys/trust";
  if (!isObject(trust)) {
    report(p, 'trust is an object: { "anchors": [{ "ref": "file:keys/bank-root-ca.crt" }] }');
    return;
  }
  allowOnly(trust, p, ["anchors", "intermediates", "serial", "subject"], report);
  if (!hasVerifying)
    report(
      p,
      "trust checks the certificates of keys.verifying: give the partner's certificate there",
    );
  for (const list of ["anchors", "intermediates"]) {
    const value = trust[list];
    if (value === undefined && list === "intermediates") continue;
    if (!Array.isArray(value) || (list === "anchors" && value.length === 0)) {
      report(
        `${p}/${list}`,
        list === "anchors"
          ? "anchors lists the CA certificates trusted to issue the partner's, at least one"
          : "intermediates is a list of CA certificates",
      );
      continue;
    }
    value.forEach((spec, index) => {
      validateKeySpec(spec, `${p}/${list}/${index}`, report);
    });
  }
  if (trust.serial !== undefined && !/^[0-9a-fA-F:]+$/.test(String(trust.serial)))
    report(`${p}/serial`, "serial is the certificate serial number in hex");
  if (trust.subject !== undefined && !/^\s*\w+=/.test(String(trust.subject)))
    report(`${p}/subject`, 'subject lists subject attributes, e.g. "CN=h2h.bank.example, O=Bank"');
}

function validateKeySpec(spec: unknown, pointer: string, report: Report): void {
  if (!isObject(spec)) {
    report(pointer, 'a key is an object such as { "ref": "file:keys/partner.pem" }');
    return;
  }
  allowOnly(spec, pointer, ["ref", "format", "password", "id", "idFormat", "certificate"], report);
  oneOf(spec.idFormat, `${pointer}/idFormat`, ["serial", "alipayCertSn"], report, true);
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
