import type { Codec, CryptoHandler } from "@capflow/core";
import { CapflowError } from "@capflow/core";
import { bodyField, byField } from "./business-key.ts";
import type { CallbackSpec } from "./callback-sender.ts";
import type { EndpointOptions, EndpointScript, ScriptedRequest } from "./endpoint.ts";
import { parseEndpointKey } from "./endpoint.ts";
import {
  accept,
  processing,
  processingThen,
  reject,
  sequence,
  withCallbacks,
} from "./endpoint-scripts.ts";
import { type Fault, type FaultRule, faultKinds } from "./faults.ts";
import type { MockFunderOptions } from "./mock-funder.ts";

/**
 * The declarative form of a mock funder: plain JSON, so that a fictional funder can live next to
 * its channel definition in an example folder and run with `pnpm start`. Scripts and faults are
 * named; strings in bodies may read the call with `{{body.loanNo}}`, `{{query.x}}`,
 * `{{headers.x}}`, `{{businessKey}}`, `{{n}}` (a string that is exactly one placeholder keeps the
 * value's type). Crypto stays in code: the caller builds the funder's handler and codec.
 *
 * ```json
 * {
 *   "seed": 7,
 *   "businessKey": "loanNo",
 *   "callbacks": { "url": "http://127.0.0.1:8080/callbacks/demo", "attempts": 5, "intervalMs": 500 },
 *   "endpoints": {
 *     "POST /loan/apply": {
 *       "answer": { "script": "processing", "fields": { "loanNo": "{{body.loanNo}}" } },
 *       "callbacks": [{ "delayMs": 200, "body": { "loanNo": "{{body.loanNo}}", "status": "SUCCESS" } }],
 *       "faults": [{ "kind": "timeoutAfterProcessing", "probability": 0.05 }]
 *     },
 *     "POST /loan/query": {
 *       "answer": { "script": "processingThen", "polls": 2, "final": { "script": "accept" } }
 *     }
 *   }
 * }
 * ```
 */
export interface MockFunderConfig {
  readonly seed?: number;
  /** Dotted path of the business key in request bodies (or query), for every endpoint. */
  readonly businessKey?: string;
  readonly callbacks?: {
    readonly url?: string;
    readonly attempts?: number;
    readonly intervalMs?: number | readonly number[];
    readonly timeoutMs?: number;
  };
  readonly host?: string;
  readonly port?: number;
  readonly endpoints: Readonly<Record<string, EndpointConfig>>;
}

export interface EndpointConfig {
  readonly answer: ScriptConfig;
  /** Overrides the funder's `businessKey` path. */
  readonly businessKey?: string;
  readonly latencyMs?: number;
  /** Callbacks sent after every processed call of this endpoint. */
  readonly callbacks?: readonly CallbackConfig[];
  readonly faults?: readonly FaultConfig[];
}

type Fields = Readonly<Record<string, unknown>>;

export type ScriptConfig =
  | { readonly script: "accept"; readonly fields?: Fields }
  | {
      readonly script: "reject";
      readonly code: string;
      readonly message: string;
      readonly fields?: Fields;
    }
  | { readonly script: "processing"; readonly fields?: Fields }
  | {
      readonly script: "processingThen";
      readonly polls: number;
      readonly final: ScriptConfig;
      readonly fields?: Fields;
    }
  | { readonly script: "sequence"; readonly steps: readonly ScriptConfig[] }
  /** Any answer, in the funder's own spelling. */
  | {
      readonly script: "fixed";
      readonly status?: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body: unknown;
    };

export interface CallbackConfig {
  readonly name?: string;
  readonly path?: string;
  readonly delayMs?: number;
  readonly body: unknown;
}

/** A fault (any but `badSignature`'s custom `tamper`) with when to apply it. */
export type FaultConfig = DistributiveOmit<Fault, "tamper"> & {
  readonly probability?: number;
  readonly calls?: readonly number[];
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const knownFaults: ReadonlySet<string> = new Set(faultKinds);

/**
 * Turns the declarative form into mock options. Throws `CONFIG_INVALID` with a JSON pointer to the
 * first problem.
 */
export function mockFunderOptionsFromConfig(
  config: MockFunderConfig,
  crypto: { readonly handler: CryptoHandler; readonly codec: Codec },
): MockFunderOptions {
  if (typeof config !== "object" || config === null || typeof config.endpoints !== "object") {
    throw invalid("", 'a mock funder configuration needs an "endpoints" object');
  }
  const endpoints: Record<string, EndpointOptions> = {};
  for (const [key, endpoint] of Object.entries(config.endpoints)) {
    const pointer = `/endpoints/${escapePointer(key)}`;
    try {
      parseEndpointKey(key);
    } catch (error) {
      throw invalid(pointer, `endpoint "${key}" is not of the form "<METHOD> /path"`, error);
    }
    endpoints[key] = endpointFromConfig(endpoint, pointer);
  }
  return {
    handler: crypto.handler,
    codec: crypto.codec,
    endpoints,
    ...(config.businessKey === undefined ? {} : { businessKey: byField(config.businessKey) }),
    ...(config.callbacks === undefined ? {} : { callbacks: config.callbacks }),
    ...(config.seed === undefined ? {} : { seed: config.seed }),
    ...(config.host === undefined ? {} : { host: config.host }),
    ...(config.port === undefined ? {} : { port: config.port }),
  };
}

function endpointFromConfig(config: EndpointConfig, pointer: string): EndpointOptions {
  if (typeof config !== "object" || config === null) {
    throw invalid(pointer, "an endpoint is an object with an `answer`");
  }
  let answer = scriptFromConfig(config.answer, `${pointer}/answer`);
  const callbacks = config.callbacks;
  if (callbacks !== undefined) {
    answer = withCallbacks(answer, (request) =>
      callbacks.map((callback) => callbackFromConfig(callback, request)),
    );
  }
  return {
    answer,
    ...(config.businessKey === undefined ? {} : { businessKey: byField(config.businessKey) }),
    ...(config.latencyMs === undefined ? {} : { latencyMs: config.latencyMs }),
    ...(config.faults === undefined
      ? {}
      : {
          faults: config.faults.map((fault, index) =>
            faultRuleFromConfig(fault, `${pointer}/faults/${index}`),
          ),
        }),
  };
}

function scriptFromConfig(config: ScriptConfig | undefined, pointer: string): EndpointScript {
  const fields = (value: Fields | undefined) =>
    value === undefined
      ? {}
      : (request: ScriptedRequest) => fillFromRequest(value, request) as Fields;
  switch (config?.script) {
    case "accept":
      return accept(fields(config.fields));
    case "reject":
      if (typeof config.code !== "string" || typeof config.message !== "string") {
        throw invalid(pointer, 'the "reject" script needs a string "code" and "message"');
      }
      return reject(config.code, config.message, fields(config.fields));
    case "processing":
      return processing(fields(config.fields));
    case "processingThen":
      if (!Number.isInteger(config.polls) || config.polls < 0) {
        throw invalid(
          `${pointer}/polls`,
          '"polls" is the number of "processing" answers (0 or more)',
        );
      }
      return processingThen(
        config.polls,
        scriptFromConfig(config.final, `${pointer}/final`),
        fields(config.fields),
      );
    case "sequence":
      if (!Array.isArray(config.steps) || config.steps.length === 0) {
        throw invalid(`${pointer}/steps`, 'the "sequence" script needs a non-empty "steps" list');
      }
      return sequence(
        config.steps.map((step, index) => scriptFromConfig(step, `${pointer}/steps/${index}`)),
      );
    case "fixed": {
      const { status, headers, body } = config;
      return (request) => ({
        body: fillFromRequest(body, request),
        ...(status === undefined ? {} : { status }),
        ...(headers === undefined ? {} : { headers }),
      });
    }
    default:
      throw invalid(
        pointer,
        'an answer names its script: "accept", "reject", "processing", "processingThen", "sequence" or "fixed"',
      );
  }
}

function callbackFromConfig(config: CallbackConfig, request: ScriptedRequest): CallbackSpec {
  return {
    body: fillFromRequest(config.body, request),
    ...(config.name === undefined ? {} : { name: config.name }),
    ...(config.path === undefined ? {} : { path: config.path }),
    ...(config.delayMs === undefined ? {} : { delayMs: config.delayMs }),
  };
}

function faultRuleFromConfig(config: FaultConfig, pointer: string): FaultRule {
  if (typeof config !== "object" || config === null || !knownFaults.has(config.kind)) {
    throw invalid(`${pointer}/kind`, `unknown fault; known faults: ${faultKinds.join(", ")}`);
  }
  const { probability, calls, ...fault } = config;
  if (probability !== undefined && !(probability >= 0 && probability <= 1)) {
    throw invalid(`${pointer}/probability`, '"probability" is a number from 0 to 1');
  }
  if (fault.kind === "latency" && !(typeof fault.ms === "number" && fault.ms >= 0)) {
    throw invalid(`${pointer}/ms`, 'the "latency" fault needs "ms", a number of milliseconds');
  }
  return {
    fault: fault as Fault,
    ...(probability === undefined ? {} : { probability }),
    ...(calls === undefined ? {} : { calls }),
  };
}

/**
 * Replaces `{{path}}` placeholders in the strings of a JSON value with values read from the call.
 * A string that is exactly one placeholder becomes the value itself (a number stays a number).
 */
export function fillFromRequest(value: unknown, request: ScriptedRequest): unknown {
  if (typeof value === "string") {
    const whole = /^\{\{\s*([\w.]+)\s*\}\}$/.exec(value);
    if (whole?.[1] !== undefined) return bodyField(request, whole[1]);
    return value.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, path: string) => {
      const found = bodyField(request, path);
      return found === undefined || found === null ? "" : String(found);
    });
  }
  if (Array.isArray(value)) return value.map((item) => fillFromRequest(item, request));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, fillFromRequest(item, request)]),
    );
  }
  return value;
}

function invalid(pointer: string, message: string, cause?: unknown): CapflowError {
  return new CapflowError(
    "CONFIG_INVALID",
    `Mock funder configuration at "${pointer || "/"}": ${message}.`,
    {
      context: { pointer },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}
