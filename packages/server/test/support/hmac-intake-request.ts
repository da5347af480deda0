import { createHmac, randomBytes } from "node:crypto";
import { signedString } from "../../src/index.ts";

/** An intake answer: status, content type, the body's text and its JSON. */
export interface IntakeAnswer {
  status: number;
  contentType: string | null;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field in assertions
  json: any;
}

/**
 * A request to the intake API over real HTTP, signed as a client with `"algorithm":
 * "hmac-sha256"`, `"canonical": "rawBody"` and `"encoding": "hex"`: a fresh timestamp and nonce,
 * the signature over the exact body bytes. `client` is what X-Capflow-Client names (a forgery
 * names another client than the secret's).
 */
export async function hmacIntakeRequest(
  baseUrl: string,
  request: {
    client: string;
    secret: string;
    method: "GET" | "POST";
    path: string;
    value?: unknown;
    headers?: Record<string, string>;
  },
): Promise<IntakeAnswer> {
  const { method, path } = request;
  const body = request.value === undefined ? undefined : JSON.stringify(request.value);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString("hex");
  const data = signedString({
    method,
    path,
    timestamp,
    nonce,
    body: Buffer.from(body ?? "", "utf8"),
    fields: undefined,
    canonical: "rawBody",
  });
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      "x-capflow-client": request.client,
      "x-capflow-timestamp": timestamp,
      "x-capflow-nonce": nonce,
      "x-capflow-signature": createHmac("sha256", request.secret).update(data).digest("hex"),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...request.headers,
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    text,
    json: text === "" ? undefined : JSON.parse(text),
  };
}
