import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { WireRequest, WireResponse } from "@capflow/core";
import { decodeBytes, defaultCharset, encodeText, withCharset } from "@capflow/core/internal";

/**
 * Sends one sealed request and reads the answer, on a fresh connection (no agent, no pool) so that
 * nothing stays open once the exchange is over or aborted, and nothing is retried behind the
 * caller's back: a resend is a decision, and the callback sender records each one. The body goes
 * out in `wire.charset` (default UTF-8) and the answer is read in it.
 */
export function postWireRequest(
  origin: string,
  wire: WireRequest,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<WireResponse> {
  const url = new URL(wire.path, origin);
  for (const [name, value] of Object.entries(wire.query)) url.searchParams.set(name, value);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const charset = wire.charset ?? defaultCharset;
  const bytes = encodeText(wire.body, charset);
  const headers: Record<string, string> = {
    ...wire.headers,
    "content-length": String(bytes.length),
  };
  const contentType = headers["content-type"];
  if (contentType !== undefined) headers["content-type"] = withCharset(contentType, charset);
  return new Promise<WireResponse>((resolve, reject) => {
    const request = send(url, {
      method: wire.method,
      headers,
      agent: false,
      signal: options.signal,
      timeout: options.timeoutMs,
    });
    request.on("timeout", () => {
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    });
    request.on("error", reject);
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        try {
          resolve({
            status: response.statusCode ?? 0,
            headers: flattenHeaders(response.headers),
            body: decodeBytes(Buffer.concat(chunks), charset),
            charset,
          });
        } catch (error) {
          reject(error);
        }
      });
    });
    request.end(bytes);
  });
}

/** Node's header map (lower-case names; repeated headers as arrays) as a plain string record. */
export function flattenHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}
