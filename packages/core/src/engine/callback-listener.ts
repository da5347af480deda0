import type { IncomingMessage, ServerResponse } from "node:http";
import { CapflowError, type ErrorCode, isCapflowError } from "../errors.ts";
import type { Engine } from "./engine.ts";

export interface CallbackListenerOptions {
  /**
   * Path prefix of callback URLs: `<prefix>/<channel>/<callback>`, or
   * `<prefix>/<channel>/<callback>/<account>` for a channel account's notifications. Default
   * `/callbacks`.
   */
  prefix?: string;
  /** Largest body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Called with failures the partner is told to retry (503), e.g. the store is down, and with the
   * reason of a notification refused for something other than its signature or decryption (an
   * expression that fails, a `match` it does not satisfy): a `CapflowError` with the code and
   * message, which the partner is not told.
   */
  onError?: (error: unknown) => void;
}

/**
 * A node:http request listener for funder callbacks: `POST <prefix>/<channel>/<callback>` goes to
 * `engine.receiveCallback` with the raw body, and the acknowledgement is written back. Mount it on
 * your own server (or route to it from your framework):
 *
 * ```ts
 * createServer(callbackRequestListener(engine)).listen(8080);
 * ```
 * Unknown callbacks get 404; a failure before the callback was stored gets 503, so the funder
 * sends it again and nothing is lost.
 */
export function callbackRequestListener(
  engine: Engine,
  options: CallbackListenerOptions = {},
): (request: IncomingMessage, response: ServerResponse) => void {
  const prefix = (options.prefix ?? "/callbacks").replace(/\/+$/, "");
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  return (request, response) => {
    const url = new URL(request.url ?? "/", "http://callback.invalid");
    const rest = url.pathname.startsWith(`${prefix}/`)
      ? url.pathname.slice(prefix.length + 1)
      : undefined;
    const segments = rest?.split("/") ?? [];
    const [channel, callback, account] = segments.map(decodedSegment);
    const accountNamed = segments.length === 3;
    if (!channel || !callback || (accountNamed && !account) || segments.length > 3) {
      response.writeHead(404).end();
      return;
    }
    if (request.method !== "POST") {
      // Drain nothing: the request is answered before its body is read.
      response.writeHead(405, { allow: "POST" }).end();
      return;
    }
    readBody(request, maxBodyBytes)
      .then((body) =>
        engine.receiveCallback(
          channel,
          callback,
          {
            method: request.method ?? "POST",
            path: url.pathname,
            headers: request.headers,
            query: Object.fromEntries(url.searchParams),
            body,
          },
          account === undefined ? {} : { account },
        ),
      )
      .then((ack) => {
        response.writeHead(ack.status, ack.headers).end(ack.bytes);
        if (!ack.accepted && ack.error && !openFailureCodes.has(ack.error.code)) {
          options.onError?.(
            new CapflowError(ack.error.code as ErrorCode, ack.error.message, {
              context: { channel, callback },
            }),
          );
        }
      })
      .catch((error: unknown) => {
        if (response.headersSent) return;
        if (
          isCapflowError(error, "CALLBACK_UNKNOWN") ||
          isCapflowError(error, "DEFINITION_NOT_FOUND")
        ) {
          response.writeHead(404).end();
          return;
        }
        if (error instanceof BodyTooLarge) {
          response.writeHead(413).end();
          return;
        }
        options.onError?.(error);
        response.writeHead(503).end();
      });
  };
}

class BodyTooLarge extends Error {}

/** Refusals a forger causes at will (signature, decryption, decoding): not the host's to fix. */
const openFailureCodes = new Set([
  "CRYPTO_DECRYPT_FAILED",
  "CRYPTO_VERIFY_FAILED",
  "CODEC_DECODE_FAILED",
  "CHARSET_DECODE_FAILED",
]);

/** A path segment decoded, or undefined when its escapes are malformed (it names nothing). */
function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The body's bytes: the engine decodes them in the callback's charset. */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new BodyTooLarge());
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}
