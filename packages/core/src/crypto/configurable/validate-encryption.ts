import {
  allowOnly,
  binaryEncodings,
  isObject,
  type NeedKey,
  oneOf,
  type Report,
} from "./option-checks.ts";

export function validateEncryption(
  value: unknown,
  p: string,
  needKey: NeedKey,
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
  if (isObject(value.encoding)) {
    allowOnly(value.encoding, `${p}/encoding`, ["ciphertext", "key", "iv"], report);
    for (const [part, encoding] of Object.entries(value.encoding))
      oneOf(encoding, `${p}/encoding/${part}`, binaryEncodings, report, true);
  } else {
    oneOf(value.encoding, `${p}/encoding`, binaryEncodings, report, true);
  }
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
        [
          "rsa-oaep-sha1",
          "rsa-oaep-sha256",
          "rsa-oaep-sha256-mgf1sha1",
          "rsa-pkcs1",
          "sm2-c1c3c2",
          "sm2-c1c2c3",
        ],
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

export function validateResource(
  resource: unknown,
  p: string,
  needKey: NeedKey,
  report: Report,
): void {
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
