import { CapflowError } from "../../src/errors.ts";
import type { Transport, TransportRequest, TransportResponse } from "../../src/ports/transport.ts";

/** One scripted answer: a JSON body, the body's exact text or bytes, or a transport failure. */
export type ScriptedAnswer =
  | { status?: number; body: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; headers?: Record<string, string> }
  | { status?: number; bytes: Uint8Array; headers?: Record<string, string> }
  | { fault: "notSent" | "unknownOutcome" }
  | { hang: Promise<ScriptedAnswer> };

export interface RecordedRequest {
  path: string;
  method: string;
  /** The query string, `?a=1` or empty. */
  search: string;
  /** The JSON body decoded, undefined when none was sent. */
  body: unknown;
  /** The body as sent, undefined when none was sent. */
  text: string | undefined;
  headers: Record<string, string>;
}

/**
 * A partner in memory: answers by path from a queue of scripted answers (the last one repeats),
 * and records every request that reached it. Failures are the transport's classified errors.
 */
export class ScriptedTransport implements Transport {
  readonly requests: RecordedRequest[] = [];
  readonly #scripts = new Map<string, ScriptedAnswer[]>();

  script(path: string, ...answers: ScriptedAnswer[]): this {
    this.#scripts.set(path, answers);
    return this;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const url = new URL(request.url);
    const path = url.pathname;
    const queue = this.#scripts.get(path);
    if (!queue || queue.length === 0) throw new Error(`no script for ${path}`);
    let answer = queue.length > 1 ? queue.shift()! : queue[0]!;
    if ("fault" in answer && answer.fault === "notSent") {
      throw new CapflowError("TRANSPORT_NOT_SENT", `${path} refused`, { retryable: true });
    }
    const text =
      request.body === undefined
        ? undefined
        : typeof request.body === "string"
          ? request.body
          : Buffer.from(request.body).toString("utf8");
    this.requests.push({
      path,
      method: request.method,
      search: url.search,
      body: text ? jsonOrUndefined(text) : undefined,
      text,
      headers: request.headers,
    });
    while ("hang" in answer) answer = await answer.hang;
    if ("fault" in answer) {
      throw new CapflowError("TRANSPORT_UNKNOWN_OUTCOME", `${path} timed out`);
    }
    return {
      status: answer.status ?? 200,
      headers: { "content-type": "application/json", ...(answer.headers ?? {}) },
      body:
        "bytes" in answer
          ? answer.bytes
          : Buffer.from("text" in answer ? answer.text : JSON.stringify(answer.body)),
      durationMs: 1,
    };
  }

  async close(): Promise<void> {}
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
