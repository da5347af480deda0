import { hostname } from "node:os";
import { CapflowError, isCapflowError } from "../../errors.ts";
import { systemClock } from "../../memory/system-clock.ts";
import type { BreakerBoard } from "../../ports/breaker-board.ts";
import type { Clock } from "../../ports/clock.ts";
import type { Limiter, Limits, Permit } from "../../ports/limiter.ts";
import { Bulkhead } from "./bulkhead.ts";
import {
  type BreakerSettings,
  type BreakerState,
  type CallOutcome,
  CircuitBreaker,
  resolveBreakerSettings,
} from "./circuit-breaker.ts";

export interface FlowControlOptions {
  /** The interface limiter: in-process for one node, Redis-backed when several workers share limits. */
  limiter: Limiter;
  clock?: Clock;
  /** Breaker state changes and other things worth a metric or a log line. Must not throw. */
  onEvent?: (event: FlowEvent) => void;
  /** Breaker settings for calls that pass none. Default {@link defaultBreakerSettings}. */
  breaker?: BreakerSettings;
  /** Retry delay suggested when a channel's bulkhead is full. Default 100 ms. */
  bulkheadRetryAfterMs?: number;
  /** Retry delay suggested when the limiter cannot be reached. Default 1 s. */
  unavailableRetryAfterMs?: number;
  /**
   * Where this node reports its open and half-open breakers, so operators see every node's
   * (`openRedis().breakers` in a cluster). Default: not reported.
   */
  breakerBoard?: BreakerBoard;
  /** How this node names itself on the breaker board. Default `<host name>:<process id>`. */
  node?: string;
}

/** One partner call asking to go out. */
export interface FlowRequest {
  channel: string;
  interface: string;
  /** The interface's limits across all workers (from its definition; re-read on every call). */
  limits: Limits;
  /** Calls in flight to this channel allowed in this worker (`ChannelDefinition.bulkhead ?? 16`). */
  bulkhead: number;
  /** This interface's breaker settings; defaults to the FlowControl's. */
  breaker?: BreakerSettings;
  /**
   * How long the limiter permit outlives a worker that crashed mid-call. Set it above the call's
   * timeout so a slow but live call keeps its permit. Default: the limiter's (60 s).
   */
  permitTtlMs?: number;
  /**
   * The account of the channel the call is made with, when it has limits of its own (a funder's
   * limit per merchant id): taken after the interface's, under the key `channel#account`.
   */
  account?: { code: string; limits: Limits };
}

export type FlowRejectionReason =
  | "bulkhead"
  | "concurrency"
  | "rate"
  | "circuit-open"
  | "limiter-unavailable";

export type FlowEntry =
  | { admitted: true; ticket: FlowTicket }
  | {
      admitted: false;
      reason: FlowRejectionReason;
      /** When trying again makes sense. The call was not sent: delay the step, never fail it. */
      retryAfterMs: number;
      /** `CIRCUIT_OPEN`, `LIMITER_REJECTED` or `LIMITER_UNAVAILABLE`, retryable, for the step log. */
      error: CapflowError;
    };

export interface FlowTicket {
  /**
   * Releases the bulkhead slot and the limiter permit, and tells the breaker how the call ended:
   * `failure` for answers that show the partner unwell (connection refused or reset, HTTP 5xx),
   * not for business refusals; `timeout` when no answer came in time; `not-sent` when the call
   * was abandoned before it left (lock lost, aborted), which the breaker ignores.
   * Idempotent, and never throws: a permit that cannot be released expires after its TTL.
   */
  complete(outcome: CallOutcome | "not-sent"): Promise<void>;
}

export type FlowEvent =
  | {
      type: "breaker.open" | "breaker.half-open" | "breaker.closed";
      channel: string;
      interface: string;
    }
  | { type: "permit.release-failed"; channel: string; interface: string; error: unknown }
  | { type: "breaker.report-failed"; channel: string; interface: string; error: unknown };

/**
 * Admission control around every partner call, in this order:
 * 1. the interface's circuit breaker (an open circuit refuses without touching any counter),
 * 2. the channel's bulkhead in this worker (so a slow channel cannot take every worker slot),
 * 3. the interface's concurrency and rate limits, shared by all workers (key `channel:interface`),
 * 4. the account's, when the call is made with an account that has limits (key `channel#account`).
 * A refusal at any stage gives back what earlier stages took. Nothing waits in a queue: a refused
 * call comes back with `retryAfterMs` and the engine delays the step, freeing the worker slot.
 *
 * ```ts
 * const flow = new FlowControl({ limiter });
 * const entry = await flow.enter({ channel: "acme", interface: "loan.apply", limits: { concurrency: 5 }, bulkhead: 16 });
 * if (!entry.admitted) return delayStep(entry.retryAfterMs, entry.error);
 * try {
 *   const response = await send();
 *   await entry.ticket.complete("success");
 * } catch (error) {
 *   await entry.ticket.complete(isTimeout(error) ? "timeout" : "failure");
 * }
 * ```
 */
export class FlowControl {
  readonly #limiter: Limiter;
  readonly #clock: Clock;
  readonly #onEvent: (event: FlowEvent) => void;
  readonly #defaultBreaker: BreakerSettings;
  readonly #bulkheadRetryAfterMs: number;
  readonly #unavailableRetryAfterMs: number;
  readonly #bulkhead = new Bulkhead();
  readonly #board: BreakerBoard | undefined;
  readonly #node: string;
  /** `channel:interface` -> until when its limits refused calls (for routing's health view). */
  readonly #saturatedUntil = new Map<string, number>();
  readonly #breakers = new Map<
    string,
    { source: BreakerSettings; fingerprint: string; breaker: CircuitBreaker }
  >();

  constructor(options: FlowControlOptions) {
    this.#limiter = options.limiter;
    this.#clock = options.clock ?? systemClock;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#defaultBreaker = options.breaker ?? {};
    resolveBreakerSettings(this.#defaultBreaker);
    this.#bulkheadRetryAfterMs = options.bulkheadRetryAfterMs ?? 100;
    this.#unavailableRetryAfterMs = options.unavailableRetryAfterMs ?? 1_000;
    this.#board = options.breakerBoard;
    this.#node = options.node ?? `${hostname()}:${process.pid}`;
  }

  async enter(request: FlowRequest): Promise<FlowEntry> {
    const { channel } = request;
    const context = { channel, interface: request.interface };

    const breaker = this.#breakerFor(request);
    const admission = breaker.admit();
    if (!admission.admitted) return this.#circuitOpen(request, admission.retryAfterMs);

    if (!this.#bulkhead.tryEnter(channel, request.bulkhead)) {
      breaker.cancel(admission.probe);
      return this.#bulkheadFull(request);
    }

    const permits: Permit[] = [];
    const limited = [
      { key: `${channel}:${request.interface}`, limits: request.limits, what: request.interface },
      ...(request.account
        ? [
            {
              key: `${channel}#${request.account.code}`,
              limits: request.account.limits,
              what: `account ${request.account.code}`,
            },
          ]
        : []),
    ];
    for (const { key, limits, what } of limited) {
      if (limits.concurrency === undefined && limits.rate === undefined) continue;
      const giveBack = async () => {
        this.#bulkhead.leave(channel);
        breaker.cancel(admission.probe);
        await Promise.all(permits.map((held) => held.release().catch(() => undefined)));
      };
      try {
        const decision = await this.#limiter.acquire(
          key,
          limits,
          request.permitTtlMs === undefined ? {} : { permitTtlMs: request.permitTtlMs },
        );
        if (!decision.granted) {
          this.#saturatedUntil.set(key, this.#clock.now() + decision.retryAfterMs);
          await giveBack();
          return this.#refuse(
            decision.reason,
            decision.retryAfterMs,
            new CapflowError(
              "LIMITER_REJECTED",
              `${channel} ${what} is at its ${decision.reason} limit; the call was not sent and will be retried`,
              { context: { ...context, reason: decision.reason } },
            ),
          );
        }
        permits.push(decision.permit);
      } catch (error) {
        await giveBack();
        // Calling the partner without limits could break what the funder allows: delay instead.
        if (isCapflowError(error, "LIMITER_UNAVAILABLE")) {
          return this.#refuse(
            "limiter-unavailable",
            this.#unavailableRetryAfterMs,
            error.withContext(context),
          );
        }
        throw error;
      }
    }

    let completed = false;
    const ticket: FlowTicket = {
      complete: async (outcome) => {
        if (completed) return;
        completed = true;
        this.#bulkhead.leave(channel);
        if (outcome === "not-sent") breaker.cancel(admission.probe);
        else breaker.record(outcome, admission.probe);
        for (const permit of permits) {
          try {
            await permit.release();
          } catch (error) {
            this.#emit({ type: "permit.release-failed", ...context, error });
          }
        }
      },
    };
    return { admitted: true, ticket };
  }

  /**
   * The refusal `enter` would give now for what this worker decides alone (the interface's
   * circuit open, the channel's bulkhead full), without taking or changing anything; undefined
   * otherwise. The engine asks before rendering and sealing a request, so a call that cannot go
   * out costs no signature; `enter` still decides, with the shared limits.
   */
  refusesNow(request: FlowRequest): Extract<FlowEntry, { admitted: false }> | undefined {
    const wait = this.#breakerFor(request).refusal();
    if (wait !== undefined) return this.#circuitOpen(request, wait);
    if (this.#bulkhead.inFlight(request.channel) >= request.bulkhead) {
      return this.#bulkheadFull(request);
    }
    return undefined;
  }

  /** Calls in flight to `channel` in this worker. */
  inFlight(channel: string): number {
    return this.#bulkhead.inFlight(channel);
  }

  /**
   * Channels whose bulkhead in this worker is full right now: any call to them would be refused,
   * so this worker claims none of their instances until a call returns (`claimDue`).
   */
  fullChannels(): string[] {
    return this.#bulkhead.full();
  }

  /**
   * Whether the interface's concurrency or rate limit refused a call in this worker and the wait
   * it named has not passed: routing then prefers another channel.
   */
  saturated(channel: string, interfaceName: string): boolean {
    const until = this.#saturatedUntil.get(`${channel}:${interfaceName}`);
    return until !== undefined && until > this.#clock.now();
  }

  /**
   * Whether the account's own concurrency or rate limit refused a call in this worker and the
   * wait it named has not passed: routing then prefers another account of the channel.
   */
  accountSaturated(channel: string, account: string): boolean {
    const until = this.#saturatedUntil.get(`${channel}#${account}`);
    return until !== undefined && until > this.#clock.now();
  }

  /** The breaker state of one channel interface (`closed` if no call went through it yet). */
  breakerState(channel: string, interfaceName: string): BreakerState {
    return this.#breakers.get(`${channel}:${interfaceName}`)?.breaker.state ?? "closed";
  }

  #breakerFor(request: FlowRequest): CircuitBreaker {
    const key = `${request.channel}:${request.interface}`;
    const settings = request.breaker ?? this.#defaultBreaker;
    const existing = this.#breakers.get(key);
    // The engine passes the same settings object while the definition is unchanged: no work then.
    if (existing?.source === settings) return existing.breaker;
    const fingerprint = JSON.stringify(resolveBreakerSettings(settings));
    if (existing?.fingerprint === fingerprint) {
      existing.source = settings;
      return existing.breaker;
    }
    // A changed definition brings a fresh breaker, as changed limits apply without restart.
    const breaker: CircuitBreaker = new CircuitBreaker(settings, this.#clock, (state) => {
      this.#emit({
        type: `breaker.${state}`,
        channel: request.channel,
        interface: request.interface,
      });
      this.#report(request.channel, request.interface, breaker);
    });
    this.#breakers.set(key, { source: settings, fingerprint, breaker });
    if (existing !== undefined && existing.breaker.state !== "closed") {
      this.#report(request.channel, request.interface, breaker);
    }
    return breaker;
  }

  /** Tells the breaker board (if any) this node's state; a failed report expires by itself. */
  #report(channel: string, interfaceName: string, breaker: CircuitBreaker): void {
    const board = this.#board;
    if (board === undefined) return;
    const where = { channel, interface: interfaceName, node: this.#node };
    const state = breaker.state;
    const probeAt = breaker.probeAt;
    const report =
      state === "closed"
        ? board.report({ ...where, state })
        : board.report({
            ...where,
            state,
            since: breaker.since,
            ...(probeAt === undefined ? {} : { probeAt }),
            expiresAt: (probeAt ?? breaker.since) + breaker.probeLeaseMs,
          });
    report.catch((error: unknown) =>
      this.#emit({ type: "breaker.report-failed", channel, interface: interfaceName, error }),
    );
  }

  #circuitOpen(request: FlowRequest, retryAfterMs: number) {
    return this.#refuse(
      "circuit-open",
      retryAfterMs,
      new CapflowError(
        "CIRCUIT_OPEN",
        `circuit of ${request.channel} ${request.interface} is open after repeated failures; the call was not sent and will be retried`,
        { context: { channel: request.channel, interface: request.interface } },
      ),
    );
  }

  #bulkheadFull(request: FlowRequest) {
    return this.#refuse(
      "bulkhead",
      this.#bulkheadRetryAfterMs,
      new CapflowError(
        "LIMITER_REJECTED",
        `${request.bulkhead} calls to ${request.channel} are already in flight in this worker (bulkhead); the call was not sent and will be retried`,
        {
          context: { channel: request.channel, interface: request.interface, reason: "bulkhead" },
        },
      ),
    );
  }

  #refuse(
    reason: FlowRejectionReason,
    retryAfterMs: number,
    error: CapflowError,
  ): Extract<FlowEntry, { admitted: false }> {
    return { admitted: false, reason, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)), error };
  }

  #emit(event: FlowEvent): void {
    try {
      this.#onEvent(event);
    } catch {
      // A faulty listener must not break admission control.
    }
  }
}
