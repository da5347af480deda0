import { setMaxListeners } from "node:events";
import type {
  Clock,
  Codec,
  CryptoHandler,
  OpenedMessage,
  WireRequest,
  WireResponse,
} from "@capflow/core";
import { describeError } from "./describe-error.ts";
import { postWireRequest } from "./post-wire-request.ts";

/** One notification the funder sends to the engine. */
export interface CallbackSpec {
  /** The business body, encoded with `codec` and sealed with the mock's crypto handler. */
  readonly body: unknown;
  /** A label to find it by in `mock.callbacks({ name })`. */
  readonly name?: string;
  /** Path on the callback URL's origin. Default: the callback URL's own path. */
  readonly path?: string;
  /** A full URL, for a callback sent somewhere else than the configured callback URL. */
  readonly url?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  /** Wait before the first attempt, in milliseconds, counted from when the call was processed. */
  readonly delayMs?: number;
  /** Overrides the callback codec. */
  readonly codec?: Codec;
}

/** What the engine answered to one delivery attempt, as the acknowledgement predicate sees it. */
export interface CallbackAcknowledgement {
  readonly status: number;
  readonly raw: WireResponse;
  /** The answer opened with the mock's handler; undefined when empty or when opening failed. */
  readonly opened: OpenedMessage | undefined;
  /** Why opening failed, when it did. */
  readonly openError: unknown;
}

/** How the mock delivers callbacks. Real funders retry for hours; the defaults suit tests. */
export interface CallbackOptions {
  /** The engine's callback endpoint, e.g. `http://127.0.0.1:8080/callbacks/demo`. */
  readonly url?: string;
  /** Codec of callback bodies and of the engine's acknowledgements. Default: the mock's codec. */
  readonly codec?: Codec;
  /** Charset callbacks are written in (and acknowledgements read in). Default: the mock's. */
  readonly charset?: string;
  /** Attempts per delivery, the first included. Default 5. */
  readonly attempts?: number;
  /** Wait between attempts in milliseconds; a list gives one wait per retry. Default 200. */
  readonly intervalMs?: number | readonly number[];
  /** How long one attempt waits for the engine's answer. Default 5000. */
  readonly timeoutMs?: number;
  /**
   * Whether an answer acknowledges the callback. Default: a 2xx status whose body, if any, the
   * mock's handler can open (a funder that cannot verify the acknowledgement sends again).
   */
  readonly isAcknowledged?: (acknowledgement: CallbackAcknowledgement) => boolean;
}

export interface CallbackAttempt {
  /** When the attempt started (clock milliseconds). */
  readonly at: number;
  /** The engine's HTTP status; undefined when no answer came (refused, reset, timed out). */
  readonly status: number | undefined;
  /** Why the attempt failed to get an answer, or why the answer could not be opened. */
  readonly error: string | undefined;
  readonly acknowledged: boolean;
}

export type CallbackDeliveryState =
  | "scheduled"
  | "delivering"
  | "acknowledged"
  | "exhausted"
  | "cancelled";

/** One callback and every attempt to deliver it. */
export interface CallbackDelivery {
  /** 1, 2, … in scheduling order. */
  readonly id: number;
  readonly name: string | undefined;
  readonly url: string;
  readonly body: unknown;
  /** `seq` of the recorded request that triggered it; undefined for `mock.sendCallback`. */
  readonly triggeredBy: number | undefined;
  /** 1 for the original; 2, 3, … for copies sent by the `duplicateCallbacks` fault. */
  readonly copy: number;
  readonly state: CallbackDeliveryState;
  readonly attempts: readonly CallbackAttempt[];
  /** The engine's acknowledgement, opened, once acknowledged. */
  readonly acknowledgement: OpenedMessage | undefined;
}

/** A delivery in progress: `firstAttempt` settles after the first attempt, `done` at the end. */
export interface ScheduledCallback {
  readonly id: number;
  readonly firstAttempt: Promise<void>;
  readonly done: Promise<CallbackDelivery>;
}

interface DeliveryRecord {
  id: number;
  name: string | undefined;
  url: string;
  body: unknown;
  triggeredBy: number | undefined;
  copy: number;
  state: CallbackDeliveryState;
  attempts: CallbackAttempt[];
  acknowledgement: OpenedMessage | undefined;
}

/**
 * Delivers sealed callbacks to the engine the way funders do: after a delay, then again and again
 * until acknowledged or out of attempts, recording each attempt and what the engine answered.
 */
export class CallbackSender {
  readonly #handler: CryptoHandler;
  readonly #codec: Codec;
  readonly #clock: Clock;
  readonly #options: CallbackOptions;
  #url: string | undefined;
  #deliveries: DeliveryRecord[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #abort = unboundedAbortController();
  #nextId = 1;

  constructor(handler: CryptoHandler, codec: Codec, clock: Clock, options: CallbackOptions = {}) {
    this.#handler = handler;
    this.#codec = options.codec ?? codec;
    this.#clock = clock;
    this.#options = options;
    this.#url = options.url;
  }

  /** Where callbacks go; set it when the engine's server starts after the mock. */
  setUrl(url: string): void {
    this.#url = url;
  }

  /**
   * Starts delivering a callback: after `spec.delayMs`, and not before `after` settles (so the
   * callbacks of one call reach the engine in their order), then with retries until acknowledged.
   */
  schedule(
    spec: CallbackSpec,
    origin: { triggeredBy?: number; copy?: number; after?: Promise<void> } = {},
  ): ScheduledCallback {
    const url = this.#targetUrl(spec);
    const record: DeliveryRecord = {
      id: this.#nextId++,
      name: spec.name,
      url: url.href,
      body: spec.body,
      triggeredBy: origin.triggeredBy,
      copy: origin.copy ?? 1,
      state: "scheduled",
      attempts: [],
      acknowledgement: undefined,
    };
    this.#deliveries.push(record);
    let firstAttemptDone: () => void = () => {};
    const firstAttempt = new Promise<void>((resolve) => {
      firstAttemptDone = resolve;
    });
    const after = origin.after ?? Promise.resolve();
    const done = this.#deliver(record, spec, url, after, this.#abort.signal, firstAttemptDone).then(
      () => {
        firstAttemptDone();
        return snapshot(record);
      },
    );
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
    return { id: record.id, firstAttempt, done };
  }

  deliveries(): CallbackDelivery[] {
    return this.#deliveries.map(snapshot);
  }

  /** Resolves once every delivery scheduled so far is acknowledged, exhausted or cancelled. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  /** Stops every delivery (waits and attempts in progress) and waits until they have stopped. */
  async cancelAll(): Promise<void> {
    this.#abort.abort(new Error("mock funder stopped its callbacks"));
    this.#abort = unboundedAbortController();
    await this.settled();
  }

  /** Forgets recorded deliveries (those in progress keep running unless cancelled). */
  clearRecords(): void {
    this.#deliveries = [];
  }

  #targetUrl(spec: CallbackSpec): URL {
    const base = spec.url ?? this.#url;
    if (base === undefined) {
      throw new Error(
        "The mock funder has no callback URL: pass `callbacks: { url }` or call mock.setCallbackUrl(url) with the engine's callback endpoint.",
      );
    }
    return spec.path === undefined ? new URL(base) : new URL(spec.path, base);
  }

  async #deliver(
    record: DeliveryRecord,
    spec: CallbackSpec,
    url: URL,
    after: Promise<void>,
    signal: AbortSignal,
    firstAttemptDone: () => void,
  ): Promise<void> {
    const attempts = Math.max(1, this.#options.attempts ?? 5);
    try {
      await Promise.all([this.#clock.sleep(spec.delayMs ?? 0, signal), after]);
      signal.throwIfAborted();
      record.state = "delivering";
      const query = { ...Object.fromEntries(url.searchParams), ...spec.query };
      // Sealed once: a funder resends the same notification, it does not re-sign it.
      const codec = spec.codec ?? this.#codec;
      const wire = await this.#handler.sealRequest({
        method: "POST",
        path: url.pathname,
        headers: { ...spec.headers },
        query,
        body: spec.body,
        codec,
        ...(this.#options.charset === undefined ? {} : { charset: this.#options.charset }),
      });
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await this.#clock.sleep(this.#intervalBefore(attempt), signal);
        const at = this.#clock.now();
        let outcome: Omit<CallbackAttempt, "at">;
        try {
          const answer = await postWireRequest(url.origin, wire, {
            timeoutMs: this.#options.timeoutMs ?? 5_000,
            signal,
          });
          outcome = await this.#judge(answer, wire, codec, record);
        } catch (error) {
          if (signal.aborted) throw error;
          outcome = { status: undefined, error: describeError(error), acknowledged: false };
        }
        record.attempts.push({ at, ...outcome });
        if (attempt === 1) firstAttemptDone();
        if (outcome.acknowledged) {
          record.state = "acknowledged";
          return;
        }
      }
      record.state = "exhausted";
    } catch (error) {
      if (signal.aborted) {
        record.state = "cancelled";
        return;
      }
      // Sealing failed: the funder could not send it at all. Record it rather than crash the mock.
      record.attempts.push({
        at: this.#clock.now(),
        status: undefined,
        error: `callback not sent: ${describeError(error)}`,
        acknowledged: false,
      });
      record.state = "exhausted";
    }
  }

  async #judge(
    answer: WireResponse,
    wire: WireRequest,
    codec: Codec,
    record: DeliveryRecord,
  ): Promise<Omit<CallbackAttempt, "at">> {
    let opened: OpenedMessage | undefined;
    let openError: unknown;
    if (answer.body.length > 0) {
      try {
        opened = await this.#handler.openResponse(answer, wire, codec);
      } catch (error) {
        openError = error;
      }
    }
    const acknowledgement = { status: answer.status, raw: answer, opened, openError };
    const acknowledged = (this.#options.isAcknowledged ?? isSuccessfulAndOpened)(acknowledgement);
    if (acknowledged) record.acknowledgement = opened;
    return {
      status: answer.status,
      error:
        openError === undefined
          ? undefined
          : `acknowledgement not opened: ${describeError(openError)}`,
      acknowledged,
    };
  }

  #intervalBefore(attempt: number): number {
    const interval = this.#options.intervalMs ?? 200;
    if (typeof interval === "number") return interval;
    // The list gives the wait before each retry; its last entry repeats.
    return interval[Math.min(attempt - 2, interval.length - 1)] ?? 0;
  }
}

function isSuccessfulAndOpened(acknowledgement: CallbackAcknowledgement): boolean {
  return (
    acknowledgement.status >= 200 &&
    acknowledgement.status < 300 &&
    acknowledgement.openError === undefined
  );
}

function snapshot(record: DeliveryRecord): CallbackDelivery {
  return { ...record, attempts: [...record.attempts] };
}

/**
 * Every pending delivery waits on this one signal, so it legitimately has many listeners at once;
 * Node would warn of a leak past ten.
 */
function unboundedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
