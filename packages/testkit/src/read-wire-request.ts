import type { IncomingMessage } from "node:http";
import type { HttpMethod, WireRequest } from "@capflow/core";
import { decodeBytes, defaultCharset } from "@capflow/core/internal";
import { flattenHeaders } from "./post-wire-request.ts";

/**
 * Reads an inbound HTTP request into the shape crypto handlers open, its body decoded in the
 * funder's `charset`; bytes not valid in it throw `CHARSET_DECODE_FAILED`.
 */
export async function readWireRequest(
  request: IncomingMessage,
  charset: string = defaultCharset,
): Promise<WireRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const url = new URL(request.url ?? "/", "http://mock.invalid");
  return {
    method: (request.method ?? "GET") as HttpMethod,
    path: url.pathname,
    headers: flattenHeaders(request.headers),
    query: Object.fromEntries(url.searchParams),
    body: decodeBytes(Buffer.concat(chunks), charset),
    charset,
  };
}
