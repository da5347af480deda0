import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import type { CryptoHandler } from "../../../src/crypto/handler.ts";
import { jsonCodec } from "../../../src/message/codecs/json-codec.ts";
import { documentedProfile, profileHandlers } from "../../support/crypto/documented-profiles.ts";
import { TestClock } from "../../support/crypto/handlers.ts";
import { OpensslCa, openssl, sm2KeyHex } from "../../support/crypto/openssl-ca.ts";

// sm-crypto 0.5.8, the reference implementation, plays the bank.
const { sm2, sm4 } = createRequire(import.meta.url)("sm-crypto") as {
  sm2: {
    doSignature(msg: string, priv: string, o: Record<string, unknown>): string;
    doVerifySignature(msg: string, sig: string, pub: string, o: Record<string, unknown>): boolean;
    doEncrypt(msg: number[], pub: string, mode: number): string;
    doDecrypt(ct: string, priv: string, mode: number, o: { output: "array" }): number[];
  };
  sm4: {
    encrypt(msg: string, key: string, o: Record<string, unknown>): string;
    decrypt(ct: string, key: string, o: Record<string, unknown>): string;
  };
};

const merchantNo = "M100000001";
const reqTime = /^\d{14}$/;

describe("a bank with SM2 signatures and SM4 envelopes, as documented, against sm-crypto", () => {
  const profile = documentedProfile("sm2-sm4-bank");
  const ca = new OpensslCa(
    "sm2",
    "/C=CN/O=China Financial Certification Authority/CN=Test SM2 Root",
  );
  const bank = ca.issue({ subject: "/C=CN/O=Test Bank/OU=Open Banking/CN=bank signer" });
  const merchant = ca.issue({ subject: `/C=CN/O=Capflow Test/OU=${merchantNo}/CN=merchant` });
  const bankKey = sm2KeyHex(bank.keyFile, ca.dir);
  const merchantKey = sm2KeyHex(merchant.keyFile, ca.dir);
  const files = {
    "keys/merchant-sm2-key.pem": merchant.keyPem,
    "keys/bank-sm2-cert.pem": bank.certPem,
    "keys/bank/bank-sm2-key.pem": bank.keyPem,
    "keys/bank/merchant-sm2-public.pem": openssl(
      ["pkey", "-in", merchant.keyFile, "-pubout"],
      ca.dir,
    ).toString(),
  };
  const partnerKeys = {
    signing: { ref: "file:keys/bank/bank-sm2-key.pem" },
    decryption: { ref: "file:keys/bank/bank-sm2-key.pem" },
    verifying: { ref: "file:keys/bank/merchant-sm2-public.pem" },
    encryption: { ref: "file:keys/bank/merchant-sm2-public.pem" },
  };
  const clock = new TestClock(Date.UTC(2026, 0, 15, 2, 0, 0));
  const now = "20260115100000"; // the clock, in Asia/Shanghai
  let platform: CryptoHandler;
  let mirrored: CryptoHandler;
  beforeAll(async () => {
    ({ platform, partner: mirrored } = await profileHandlers(
      profile,
      { files, clock },
      partnerKeys,
    ));
  });

  /** What the bank does with a request: unwrap, decrypt and verify with sm-crypto. */
  function bankOpens(wireBody: string) {
    const envelope = JSON.parse(wireBody) as Record<string, string>;
    const wrapped = envelope.encryptKey ?? "";
    const iv = envelope.iv ?? "";
    const key = sm2.doDecrypt(wrapped.slice(2).toLowerCase(), bankKey.privateHex, 1, {
      output: "array",
    });
    const plain = sm4.decrypt(
      Buffer.from(envelope.encryptData ?? "", "base64").toString("hex"),
      Buffer.from(key).toString("hex"),
      { mode: "cbc", iv: iv.toLowerCase() },
    );
    const signature = Buffer.from(envelope.signature ?? "", "base64").toString("hex");
    const verified = sm2.doVerifySignature(
      `${plain}&reqTime=${envelope.reqTime}`,
      signature,
      merchantKey.publicHex,
      { der: true, hash: true, userId: merchantNo },
    );
    return { envelope, wrapped, iv, plain, verified };
  }

  /** An answer as the bank makes it with sm-crypto. */
  function bankAnswers(body: unknown, options: { userId?: string; respTime?: string } = {}) {
    const plain = JSON.stringify(body);
    const key = randomBytes(16);
    const iv = randomBytes(16).toString("hex");
    const respTime = options.respTime ?? now;
    const ciphertext = sm4.encrypt(plain, key.toString("hex"), { mode: "cbc", iv });
    const signature = sm2.doSignature(`${plain}&respTime=${respTime}`, bankKey.privateHex, {
      der: true,
      hash: true,
      ...(options.userId === undefined ? {} : { userId: options.userId }),
    });
    return JSON.stringify({
      encryptData: Buffer.from(ciphertext, "hex").toString("base64"),
      encryptKey: `04${sm2.doEncrypt([...key], merchantKey.publicHex, 1)}`.toUpperCase(),
      iv: iv.toUpperCase(),
      respTime,
      signature: Buffer.from(signature, "hex").toString("base64"),
    });
  }

  const sent = { method: "POST" as const, path: "/loan/apply", headers: {}, query: {}, body: "" };

  it("requests: sm-crypto unwraps the hex key, decrypts the base64 data and verifies the DER signature", async () => {
    const business = { loanNo: "L20260115001", amount: "1250.00", name: "张三" };
    const wire = await platform.sealRequest({ ...sent, body: business, codec: jsonCodec });
    const { envelope, wrapped, iv, plain, verified } = bankOpens(wire.body);
    expect(envelope).toMatchObject({ merchantNo, version: "2.0", reqTime: now });
    expect(envelope.reqTime).toMatch(reqTime);
    expect(wrapped).toMatch(/^04[0-9A-F]{224}$/); // 04 ‖ C1 (64 bytes) ‖ C3 (32) ‖ C2 (16), upper-case hex
    expect(iv).toMatch(/^[0-9A-F]{32}$/);
    expect(envelope.encryptData).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(JSON.parse(plain)).toEqual(business);
    expect(verified).toBe(true);
    expect(JSON.stringify(envelope)).not.toContain("张三");
  });

  it("answers sm-crypto makes open on the platform; a wrong user ID, stale time or altered data do not", async () => {
    const answer = bankAnswers({ code: "0000", loanNo: "L20260115001", message: "受理成功" });
    const opened = await platform.openResponse(
      { status: 200, headers: {}, body: answer },
      sent,
      jsonCodec,
    );
    expect(opened.body).toEqual({ code: "0000", loanNo: "L20260115001", message: "受理成功" });
    const open = (body: string) =>
      platform.openResponse({ status: 200, headers: {}, body }, sent, jsonCodec);
    await expect(open(bankAnswers({ code: "0000" }, { userId: merchantNo }))).rejects.toMatchObject(
      {
        code: "CRYPTO_VERIFY_FAILED",
      },
    );
    await expect(
      open(bankAnswers({ code: "0000" }, { respTime: "20260115093000" })),
    ).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      context: { failed: expect.stringContaining("replay window") },
    });
    const envelope = JSON.parse(answer) as Record<string, string>;
    const data = Buffer.from(envelope.encryptData ?? "", "base64");
    const truncated = {
      ...envelope,
      encryptData: data.subarray(0, data.length - 16).toString("base64"),
    };
    await expect(open(JSON.stringify(truncated))).rejects.toMatchObject({
      code: "CRYPTO_DECRYPT_FAILED",
    });
  });

  it("notifications the mirrored bank seals open on the platform, laid out as its answers", async () => {
    const notice = await mirrored.sealRequest({
      method: "POST",
      path: "/callbacks/bank",
      headers: {},
      query: {},
      body: { loanNo: "L20260115001", status: "SUCCESS" },
      codec: jsonCodec,
    });
    const opened = await platform.openRequest(notice, jsonCodec);
    expect(opened.body).toEqual({ loanNo: "L20260115001", status: "SUCCESS" });
    // The bank's notification is signed under the default user ID with respTime, as its answers.
    const envelope = JSON.parse(notice.body) as Record<string, string>;
    expect(Object.keys(envelope).sort()).toEqual([
      "encryptData",
      "encryptKey",
      "iv",
      "respTime",
      "signature",
    ]);
  });
});
