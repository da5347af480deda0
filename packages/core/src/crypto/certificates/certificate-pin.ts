import type { X509Certificate } from "node:crypto";

/** What a partner's certificate must be beyond chaining to a trust anchor. */
export interface CertificatePin {
  /** Certificate serial number (hex, any case, colons and leading zeros ignored). */
  serial?: string;
  /** Subject attributes that must all be present (`CN=h2h.bank.example, O=Bank`). */
  subject?: string;
}

/** Why `certificate` does not match the pin, or undefined when it does. */
export function certificatePinProblem(
  certificate: X509Certificate,
  pin: CertificatePin,
): string | undefined {
  if (pin.serial !== undefined && !sameSerial(certificate.serialNumber, pin.serial)) {
    return `the certificate serial is ${certificate.serialNumber}, not the pinned one`;
  }
  if (pin.subject !== undefined && !hasSubject(certificate, pin.subject)) {
    return "the certificate subject is not the pinned one";
  }
  return undefined;
}

export function sameSerial(a: string, b: string): boolean {
  const normal = (serial: string) =>
    serial
      .replace(/[^0-9a-f]/gi, "")
      .toUpperCase()
      .replace(/^0+/, "");
  return normal(a) === normal(b);
}

/** Every `K=V` of `wanted` (comma separated) is an attribute of the subject. */
function hasSubject(certificate: X509Certificate, wanted: string): boolean {
  const have = new Set(certificate.subject.split("\n").map((part) => part.trim()));
  return wanted
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .every((part) => have.has(part));
}
