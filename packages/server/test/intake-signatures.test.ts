import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import {
  createDefaultSecretResolver,
  readSm2PrivateKey,
  sm2Sign,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { describe, expect, test } from "vitest";
import { clientChecks } from "../src/intake/client-verifier.ts";
import { signedString } from "../src/intake/signed-string.ts";

const data = signedString({
  method: "POST",
  path: "/v1/instances",
  timestamp: "1765008000",
  nonce: "0123456789abcdef",
  body: Buffer.from('{"businessKey":"L-1","input":{"amount":100},"note":""}'),
  fields: { businessKey: "L-1", input: { amount: 100 }, note: "" },
  canonical: "sortedFields",
});

function client(signature: UpstreamClientDefinition["signature"]): UpstreamClientDefinition {
  return { id: "c", signature, allowedIps: ["127.0.0.1"], allow: {} };
}

const secrets = createDefaultSecretResolver();

describe("upstream client signatures", () => {
  test("the signed text: request line, timestamp, nonce, sorted non-empty fields", () => {
    expect(data.toString("utf8")).toBe(
      'POST\n/v1/instances\n1765008000\n0123456789abcdef\nbusinessKey=L-1&input={"amount":100}',
    );
  });

  test("SHA256withRSA, in base64 or hex", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    process.env.INTAKE_SIG_RSA = publicKey.export({ type: "spki", format: "pem" }).toString();
    const signature = sign("sha256", data, privateKey);
    const base64 = await clientChecks(
      { definition: client({ algorithm: "rsa-sha256", key: { ref: "env:INTAKE_SIG_RSA" } }) },
      secrets,
    );
    expect(await base64.verify(data, signature.toString("base64"))).toBe(true);
    expect(
      await base64.verify(Buffer.concat([data, Buffer.from("x")]), signature.toString("base64")),
    ).toBe(false);
    expect(await base64.verify(data, "not base64!")).toBe(false);
    const hex = await clientChecks(
      {
        definition: client({
          algorithm: "rsa-sha256",
          key: { ref: "env:INTAKE_SIG_RSA" },
          encoding: "hex",
        }),
      },
      secrets,
    );
    expect(await hex.verify(data, signature.toString("hex"))).toBe(true);
  });

  test("SM3withSM2 with the default user ID, DER by default or raw", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "SM2" });
    process.env.INTAKE_SIG_SM2 = publicKey.export({ type: "spki", format: "pem" }).toString();
    const signer = readSm2PrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }), "pem");
    const der = await clientChecks(
      {
        definition: client({
          algorithm: "sm2-sm3",
          key: { ref: "env:INTAKE_SIG_SM2", format: "pem" },
        }),
      },
      secrets,
    );
    const derSignature = sm2Sign(data, signer, { encoding: "der" }).toString("base64");
    expect(await der.verify(data, derSignature)).toBe(true);
    expect(await der.verify(Buffer.from("other"), derSignature)).toBe(false);
    const raw = await clientChecks(
      {
        definition: client({
          algorithm: "sm2-sm3",
          key: { ref: "env:INTAKE_SIG_SM2", format: "pem" },
          sm2Encoding: "raw",
          userId: "ALICE123@YAHOO.COM",
        }),
      },
      secrets,
    );
    const rawSignature = sm2Sign(data, signer, { userId: "ALICE123@YAHOO.COM" }).toString("base64");
    expect(await raw.verify(data, rawSignature)).toBe(true);
    expect(await raw.verify(data, derSignature)).toBe(false);
  });

  test("HMAC-SHA256 and HMAC-SM3 with the shared secret", async () => {
    process.env.INTAKE_SIG_SECRET = "shared-secret";
    for (const [algorithm, hash] of [
      ["hmac-sha256", "sha256"],
      ["hmac-sm3", "sm3"],
    ] as const) {
      const checks = await clientChecks(
        { definition: client({ algorithm, key: { ref: "env:INTAKE_SIG_SECRET" } }) },
        secrets,
      );
      const mac = createHmac(hash, "shared-secret").update(data).digest("base64");
      expect(await checks.verify(data, mac)).toBe(true);
      expect(
        await checks.verify(data, createHmac(hash, "other").update(data).digest("base64")),
      ).toBe(false);
    }
  });
});
