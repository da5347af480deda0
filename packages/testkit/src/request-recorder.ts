import type { FaultKind } from "./faults.ts";

/** How a call ended, as the funder saw it. */
export type RequestOutcome =
  /** Still being handled. */
  | "pending"
  /** An answer (whatever its status) was written completely. */
  | "answered"
  /** The mock reset the connection (a `reset…` fault). */
  | "reset"
  /** The mock held the connection without answering until the client gave up or the mock closed. */
  | "held"
  /** The client closed the connection before the answer was written. */
  | "clientGaveUp";

/** One call received by the mock funder. */
export interface RecordedRequest {
  /** 1, 2, … in order of arrival. */
  readonly seq: number;
  /** Arrival time (clock milliseconds). */
  readonly at: number;
  /** The endpoint that served it, as `"POST /loan/apply"`; undefined when none matched. */
  readonly endpoint: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Common name of the client certificate, when the mock requires mutual TLS. */
  readonly clientCertificate: string | undefined;
  /** The opened, decoded body; undefined when the request could not be opened. */
  readonly body: unknown;
  readonly businessKey: string | undefined;
  /** The call's number for its endpoint and business key (see `ScriptedRequest.n`). */
  readonly n: number | undefined;
  readonly fault: FaultKind | undefined;
  /** Whether the funder acted on the call (ran its script: booked the loan, sent callbacks). */
  readonly processed: boolean;
  /** Status of the answer sent, if one was sent. */
  readonly status: number | undefined;
  readonly outcome: RequestOutcome;
  /** Why the call was turned away (no such endpoint, request not opened, script failed). */
  readonly error: string | undefined;
  /** When the outcome was settled (clock milliseconds). */
  readonly finishedAt: number | undefined;
}

export type MutableRecordedRequest = { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] };

/** Selects recorded requests; every given field must match. */
export interface RequestFilter {
  readonly endpoint?: string;
  readonly method?: string;
  readonly path?: string;
  readonly businessKey?: string;
  readonly processed?: boolean;
  readonly fault?: FaultKind;
  readonly outcome?: RequestOutcome;
}

const allEndpoints = "*";

/**
 * Keeps every call the mock receives, and the counters tests assert on: calls per endpoint and
 * business key, and calls in flight now and at most, per endpoint and overall — the evidence that
 * a cluster-wide concurrency limit held.
 */
export class RequestRecorder {
  #records: MutableRecordedRequest[] = [];
  #nextSeq = 1;
  readonly #callsByEndpoint = new Map<string, number>();
  readonly #callsByEndpointAndKey = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  readonly #maxInFlight = new Map<string, number>();

  record(
    fields: Omit<MutableRecordedRequest, "seq" | "outcome" | "finishedAt" | "processed">,
  ): MutableRecordedRequest {
    const record: MutableRecordedRequest = {
      ...fields,
      seq: this.#nextSeq++,
      processed: false,
      outcome: "pending",
      finishedAt: undefined,
    };
    this.#records.push(record);
    return record;
  }

  /** Counts a call: its number for the endpoint overall and for its business key. */
  countCall(endpoint: string, businessKey: string | undefined): { call: number; n: number } {
    const call = (this.#callsByEndpoint.get(endpoint) ?? 0) + 1;
    this.#callsByEndpoint.set(endpoint, call);
    if (businessKey === undefined) return { call, n: call };
    const key = `${endpoint}\u0000${businessKey}`;
    const n = (this.#callsByEndpointAndKey.get(key) ?? 0) + 1;
    this.#callsByEndpointAndKey.set(key, n);
    return { call, n };
  }

  enter(endpoint: string | undefined): void {
    for (const key of endpoint === undefined ? [allEndpoints] : [allEndpoints, endpoint]) {
      const now = (this.#inFlight.get(key) ?? 0) + 1;
      this.#inFlight.set(key, now);
      this.#maxInFlight.set(key, Math.max(now, this.#maxInFlight.get(key) ?? 0));
    }
  }

  leave(endpoint: string | undefined): void {
    for (const key of endpoint === undefined ? [allEndpoints] : [allEndpoints, endpoint]) {
      this.#inFlight.set(key, (this.#inFlight.get(key) ?? 1) - 1);
    }
  }

  inFlight(endpoint?: string): number {
    return this.#inFlight.get(endpoint ?? allEndpoints) ?? 0;
  }

  maxInFlight(endpoint?: string): number {
    return this.#maxInFlight.get(endpoint ?? allEndpoints) ?? 0;
  }

  requests(filter: RequestFilter = {}): RecordedRequest[] {
    return this.#records
      .filter((record) => matches(record, filter))
      .map((record) => ({ ...record }));
  }

  /** How many calls carried this business key (and match the filter). */
  countBy(businessKey: string, filter: RequestFilter = {}): number {
    return this.#records.filter(
      (record) => record.businessKey === businessKey && matches(record, filter),
    ).length;
  }

  /** Calls per business key, for "each loan exactly once" assertions. */
  countsByBusinessKey(filter: RequestFilter = {}): Map<string, number> {
    const counts = new Map<string, number>();
    for (const record of this.#records) {
      if (record.businessKey === undefined || !matches(record, filter)) continue;
      counts.set(record.businessKey, (counts.get(record.businessKey) ?? 0) + 1);
    }
    return counts;
  }

  /**
   * Forgets records and call numbers. Calls still in flight stay counted (they will leave), and
   * the maxima restart from them.
   */
  clear(): void {
    this.#records = [];
    this.#nextSeq = 1;
    this.#callsByEndpoint.clear();
    this.#callsByEndpointAndKey.clear();
    this.#maxInFlight.clear();
    for (const [key, now] of this.#inFlight) this.#maxInFlight.set(key, now);
  }
}

function matches(record: RecordedRequest, filter: RequestFilter): boolean {
  return (
    (filter.endpoint === undefined || record.endpoint === filter.endpoint) &&
    (filter.method === undefined || record.method === filter.method) &&
    (filter.path === undefined || record.path === filter.path) &&
    (filter.businessKey === undefined || record.businessKey === filter.businessKey) &&
    (filter.processed === undefined || record.processed === filter.processed) &&
    (filter.fault === undefined || record.fault === filter.fault) &&
    (filter.outcome === undefined || record.outcome === filter.outcome)
  );
}
