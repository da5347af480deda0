import type { Codec, HttpMethod } from "@capflow/core";
import { CapflowError } from "@capflow/core";
import type { BusinessKeyExtractor } from "./business-key.ts";
import type { CallbackSpec } from "./callback-sender.ts";
import type { FaultRule } from "./faults.ts";

/**
 * What an endpoint script sees of one call: the request as the funder reads it after verifying and
 * decrypting it with its crypto handler, plus how many times it has been called.
 */
export interface ScriptedRequest {
  /** The endpoint, as `"POST /loan/apply"`. */
  readonly endpoint: string;
  readonly method: HttpMethod;
  readonly path: string;
  /** Header names are lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** The opened (verified, decrypted) and decoded body. */
  readonly body: unknown;
  /** The plaintext the body was decoded from. */
  readonly text: string;
  /** The business key the endpoint's extractor found in this request, if any. */
  readonly businessKey: string | undefined;
  /**
   * 1 for the first call of this endpoint with this business key, 2 for the second, … When no
   * business key is extracted, counts every call of the endpoint.
   */
  readonly n: number;
  /** 1 for the first call of this endpoint whatever its business key, 2 for the second, … */
  readonly call: number;
}

/** A plain answer; the mock seals it with its crypto handler before it goes on the wire. */
export interface EndpointAnswer {
  /** HTTP status. Default 200. */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** The business body, encoded with the endpoint's codec and sealed. */
  readonly body: unknown;
  /** Notifications this call triggers, sent to the engine after processing (see `callbacks`). */
  readonly callbacks?: readonly CallbackSpec[];
}

/** Computes the answer to one call. May be async (e.g. to read shared test state). */
export type EndpointScript = (request: ScriptedRequest) => EndpointAnswer | Promise<EndpointAnswer>;

/** One endpoint the mock funder serves. */
export interface EndpointOptions {
  /** A canned answer, or a script computing one per call. */
  readonly answer: EndpointAnswer | EndpointScript;
  /** Finds the business key (loan number…) in a request; overrides the mock's default. */
  readonly businessKey?: BusinessKeyExtractor;
  /** Format of this endpoint's requests and answers; overrides the mock's `codec`. */
  readonly codec?: Codec;
  /** Format of this endpoint's answers when it differs from the requests'. */
  readonly answerCodec?: Codec;
  /**
   * Time the funder takes before processing each call, in milliseconds. Makes calls overlap, which
   * is what in-flight counters and concurrency limits need to be observed.
   */
  readonly latencyMs?: number;
  /** Misbehaviour to inject; the first rule that matches a call applies to it. */
  readonly faults?: readonly FaultRule[];
}

const methods: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** Splits `"POST /loan/apply"` into method and path; throws `CONFIG_INVALID` on anything else. */
export function parseEndpointKey(key: string): { method: HttpMethod; path: string } {
  const match = /^([A-Z]+) (\/\S*)$/.exec(key);
  const method = match?.[1] as HttpMethod | undefined;
  const path = match?.[2];
  if (method === undefined || path === undefined || !methods.includes(method)) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `Mock funder endpoint "${key}" is not of the form "<METHOD> /path" (methods: ${methods.join(", ")}); write e.g. "POST /loan/apply".`,
      { context: { endpoint: key } },
    );
  }
  return { method, path };
}

export function endpointKey(method: string, path: string): string {
  return `${method} ${path}`;
}
