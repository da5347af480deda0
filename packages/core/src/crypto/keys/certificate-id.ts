import { createHash, type X509Certificate } from "node:crypto";

/**
 * How a key's id is derived from its certificate, as the partner names the key on the wire:
 * - `serial`: the serial number in upper-case hex (WeChat Pay's `Wechatpay-Serial`, `serial_no`);
 * - `alipayCertSn`: MD5 of the issuer's distinguished name (last RDN first, `CN=…,OU=…,O=…,C=…`)
 *   followed by the serial number in decimal, as Alipay's certificate mode computes `app_cert_sn`
 *   and `alipay_cert_sn`.
 */
export type CertificateIdFormat = "serial" | "alipayCertSn";

export function certificateId(
  certificate: X509Certificate,
  format: CertificateIdFormat = "serial",
): string {
  const serialHex = certificate.serialNumber.toUpperCase();
  if (format === "serial") return serialHex;
  const issuer = certificate.issuer.split("\n").reverse().join(",");
  const serialDecimal = BigInt(`0x${serialHex}`).toString(10);
  return createHash("md5").update(`${issuer}${serialDecimal}`, "utf8").digest("hex");
}
