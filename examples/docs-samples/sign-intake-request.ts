import { randomBytes, sign } from "node:crypto";

/**
 * Signs a request to capflow's intake API as a client with `"algorithm": "rsa-sha256"` and the
 * default `"canonical": "sortedFields"`: the signed text is METHOD, path, timestamp, nonce and the
 * body's top-level fields as sorted k=v (nested values as compact JSON, empty ones left out).
 */
export function signIntakeRequest(
  clientId: string,
  privateKeyPem: string,
  method: "GET" | "POST",
  path: string,
  body?: Record<string, unknown>,
): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString("hex");
  const fields = Object.keys(body ?? {})
    .sort()
    .map((name) => [name, fieldText(body?.[name])] as const)
    .filter(([, text]) => text !== "")
    .map(([name, text]) => `${name}=${text}`)
    .join("&");
  const signed = `${method}\n${path}\n${timestamp}\n${nonce}\n${fields}`;
  const signature = sign("sha256", Buffer.from(signed, "utf8"), privateKeyPem).toString("base64");
  return {
    "x-capflow-client": clientId,
    "x-capflow-timestamp": timestamp,
    "x-capflow-nonce": nonce,
    "x-capflow-signature": signature,
  };
}

function fieldText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// Starting a loan, with an Idempotency-Key so that a retry after a timeout is answered the same.
export async function startLoan(baseUrl: string, privateKeyPem: string, loanNo: string) {
  const body = {
    channel: "lanbank",
    behavior: "loan",
    businessKey: loanNo,
    input: { loanNo, amount: 100000, idCardNo: "110101199003071234" },
  };
  const answer = await fetch(`${baseUrl}/v1/instances`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "idempotency-key": `start-${loanNo}`,
      ...signIntakeRequest("loan-platform", privateKeyPem, "POST", "/v1/instances", body),
    },
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new Error(`intake refused the start: ${await answer.text()}`);
  return ((await answer.json()) as { instance: { id: string; status: string } }).instance;
}
