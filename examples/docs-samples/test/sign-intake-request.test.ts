import { generateKeyPairSync, verify } from "node:crypto";
import { signedString } from "@capflow/server";
import { describe, expect, it } from "vitest";
import { signIntakeRequest } from "../sign-intake-request.ts";

describe("the intake signing sample of docs/serving.md", () => {
  it("signs exactly the bytes the server verifies", () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const body = {
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-1",
      input: { loanNo: "L-1", amount: 100000 },
      note: "",
    };
    const headers = signIntakeRequest("loan-platform", pem, "POST", "/v1/instances", body);
    const data = signedString({
      method: "POST",
      path: "/v1/instances",
      timestamp: headers["x-capflow-timestamp"]!,
      nonce: headers["x-capflow-nonce"]!,
      body: Buffer.from(JSON.stringify(body)),
      fields: body,
      canonical: "sortedFields",
    });
    const signature = Buffer.from(headers["x-capflow-signature"]!, "base64");
    expect(verify("sha256", data, publicKey, signature)).toBe(true);
  });
});
