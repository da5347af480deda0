import { request as httpRequest } from "node:http";
import type { Codec, CryptoHandler, HttpMethod, OpenedMessage, WireResponse } from "@capflow/core";
import { isCapflowError } from "@capflow/core";
import { hmacHandler } from "./hmac-handler.ts";
import { jsonCodec } from "./json-codec.ts";

export const funderSecret = "shared-test-secret";

/** What the engine's side sees of one call to the mock. */
export type CallResult =
  | { kind: "answered"; status: number; body: unknown; opened: OpenedMessage; wire: WireResponse }
  | { kind: "notOpened"; status: number; code: string; wire: WireResponse }
  | { kind: "connectionLost"; code: string }
  | { kind: "timedOut" };

export interface CallOptions {
  method?: HttpMethod;
  body?: unknown;
  query?: Record<string, string>;
  timeoutMs?: number;
  handler?: CryptoHandler;
  codec?: Codec;
  /** Format of the answer, when it differs from the request's. */
  answerCodec?: Codec;
}

/**
 * Plays the engine: seals a request with the channel's handler, sends it on a fresh connection
 * with no retry, waits at most `timeoutMs`, and opens the answer.
 */
export async function callFunder(
  baseUrl: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const handler = options.handler ?? hmacHandler(funderSecret);
  const codec = options.codec ?? jsonCodec;
  const wire = await handler.sealRequest({
    method: options.method ?? "POST",
    path,
    headers: {},
    query: options.query ?? {},
    body: options.body ?? {},
    codec,
  });
  const url = new URL(wire.path, baseUrl);
  for (const [name, value] of Object.entries(wire.query)) url.searchParams.set(name, value);
  const exchanged = await new Promise<WireResponse | { lost: string } | "timedOut">((resolve) => {
    const request = httpRequest(url, {
      method: wire.method,
      headers: { ...wire.headers, "content-length": String(Buffer.byteLength(wire.body)) },
      agent: false,
      timeout: options.timeoutMs ?? 2_000,
    });
    request.on("timeout", () => {
      request.destroy();
      resolve("timedOut");
    });
    request.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ lost: error.code ?? error.message }),
    );
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", (error: NodeJS.ErrnoException) =>
        resolve({ lost: error.code ?? error.message }),
      );
      response.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (typeof value === "string") headers[name] = value;
        }
        resolve({
          status: response.statusCode ?? 0,
          headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    request.end(wire.body);
  });
  if (exchanged === "timedOut") return { kind: "timedOut" };
  if ("lost" in exchanged) return { kind: "connectionLost", code: exchanged.lost };
  try {
    const opened = await handler.openResponse(exchanged, wire, options.answerCodec ?? codec);
    return {
      kind: "answered",
      status: exchanged.status,
      body: opened.body,
      opened,
      wire: exchanged,
    };
  } catch (error) {
    return {
      kind: "notOpened",
      status: exchanged.status,
      code: isCapflowError(error) ? error.code : String(error),
      wire: exchanged,
    };
  }
}
