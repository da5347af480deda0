import { CircuitState, ConsecutiveBreaker, CountBreaker } from "cockatiel";
import { CapflowError } from "../../errors.ts";
import type { Clock } from "../../ports/clock.ts";

/** When a channel interface's circuit opens and how long it stays open. All fields optional. */
export interface BreakerSettings {
  /** Open when more than this share (between 0 and 1, exclusive) of the sampled calls failed. Default 0.5. */
  failureRate?: number;
  /** How many of the latest calls the failure rate is measured over. Default 20. */
  sampleSize?: number;
  /** Calls needed in the sample before the failure rate can open the circuit. Default 10. */
  minimumCalls?: number;
  /** Open after this many timeouts in a row, whatever the rate. Default 5. */
  consecutiveTimeouts?: number;
  /** How long the circuit stays open before one probe call is let through. Default 30 s. */
  cooldownMs?: number;
}

export type BreakerState = "closed" | "open" | "half-open";

/** How an admitted call ended, as far as the breaker is concerned. */
export type CallOutcome = "success" | "failure" | "timeout";

export type BreakerAdmission =
  | { admitted: true; probe: boolean }
  | { admitted: false; retryAfterMs: number };

export const defaultBreakerSettings: Required<BreakerSettings> = {
  failureRate: 0.5,
  sampleSize: 20,
  minimumCalls: 10,
  consecutiveTimeouts: 5,
  cooldownMs: 30_000,
};

/**
 * A circuit breaker for one channel interface, in the shape the engine needs: ask for admission
 * before the call, report the outcome after it.
 *
 * Why not cockatiel's `CircuitBreakerPolicy` itself: it wraps a function (`execute(fn)`), so
 * admission and outcome cannot be separated without driving it through a deferred promise and
 * relying on it invoking `fn` synchronously; in half-open state it makes every other caller
 * *wait* for the probe instead of refusing them (a waiting call holds a worker slot); and it reads
 * `Date.now()` instead of an injectable clock. So the state machine (closed → open → half-open
 * with one probe → closed or open) is this small class, and the decisions "should the circuit
 * open" are cockatiel's own breakers: `CountBreaker` for the failure rate over the latest calls
 * (count-based, so it needs no clock) and `ConsecutiveBreaker` for timeouts in a row.
 */
export class CircuitBreaker {
  readonly #settings: Required<BreakerSettings>;
  readonly #clock: Clock;
  readonly #onChange: (state: BreakerState) => void;
  readonly #rate: CountBreaker;
  readonly #timeouts: ConsecutiveBreaker;
  #state: BreakerState = "closed";
  #since: number;
  #openedAt = 0;
  /** When the half-open probe was let through; undefined while no probe is in flight. */
  #probeSince: number | undefined;

  constructor(
    settings: BreakerSettings,
    clock: Clock,
    onChange: (state: BreakerState) => void = () => {},
  ) {
    this.#settings = resolveBreakerSettings(settings);
    this.#clock = clock;
    this.#onChange = onChange;
    this.#rate = new CountBreaker({
      threshold: this.#settings.failureRate,
      size: this.#settings.sampleSize,
      minimumNumberOfCalls: this.#settings.minimumCalls,
    });
    this.#timeouts = new ConsecutiveBreaker(this.#settings.consecutiveTimeouts);
    this.#since = clock.now();
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** When the breaker entered its state (epoch ms). */
  get since(): number {
    return this.#since;
  }

  /** While open: when the next call goes through as a probe. */
  get probeAt(): number | undefined {
    return this.#state === "open" ? this.#openedAt + this.#settings.cooldownMs : undefined;
  }

  /** How long a half-open probe may go without an outcome before another is let through. */
  get probeLeaseMs(): number {
    return this.#probeLeaseMs();
  }

  /** Whether a call may go out now. A call admitted with `probe: true` decides the half-open state. */
  admit(): BreakerAdmission {
    const refused = this.refusal();
    if (refused !== undefined) return { admitted: false, retryAfterMs: refused };
    if (this.#state === "closed") return { admitted: true, probe: false };
    // Open past its cooldown, or half-open with no live probe: this call is the probe. A probe
    // whose outcome never arrives (a caller that forgot to complete) must not hold the circuit
    // half-open forever, so it has a lease.
    this.#transition("half-open");
    this.#probeSince = this.#clock.now();
    return { admitted: true, probe: true };
  }

  /**
   * The wait `admit` would refuse a call with now, without changing anything: open within its
   * cooldown, or half-open while its probe is out (exactly one probe at a time). Undefined when
   * `admit` would let the call through.
   */
  refusal(): number | undefined {
    const now = this.#clock.now();
    if (this.#state === "closed") return undefined;
    if (this.#state === "open") {
      const openFor = now - this.#openedAt;
      return openFor < this.#settings.cooldownMs
        ? Math.max(1, this.#settings.cooldownMs - openFor)
        : undefined;
    }
    if (this.#probeSince === undefined) return undefined;
    const probeFor = now - this.#probeSince;
    if (probeFor > this.#probeLeaseMs()) return undefined;
    // While the probe is out, come back after twice as long as it has taken so far (at least a
    // second, at most the cooldown): a quick probe's success is seen soon, and a probe left
    // hanging until its timeout costs each waiting call a few refusals, not one a second.
    return Math.min(this.#settings.cooldownMs, Math.max(1_000, 2 * probeFor));
  }

  /** Reports how an admitted call ended. */
  record(outcome: CallOutcome, probe: boolean): void {
    if (probe) {
      if (this.#state !== "half-open") return;
      this.#probeSince = undefined;
      if (outcome === "success") {
        // cockatiel's CountBreaker forgets its samples on a half-open success.
        this.#rate.success(CircuitState.HalfOpen);
        this.#timeouts.success();
        this.#transition("closed");
      } else {
        this.#open();
      }
      return;
    }
    // Outcomes of calls admitted before the circuit opened say nothing new once it is open.
    if (this.#state !== "closed") return;
    let shouldOpen: boolean;
    if (outcome === "success") {
      this.#rate.success(CircuitState.Closed);
      this.#timeouts.success();
      shouldOpen = false;
    } else {
      shouldOpen = this.#rate.failure(CircuitState.Closed);
      if (outcome === "timeout") shouldOpen = this.#timeouts.failure() || shouldOpen;
      else this.#timeouts.success();
    }
    if (shouldOpen) this.#open();
  }

  /** An admitted call that was not sent after all (refused further on, or abandoned): no outcome. */
  cancel(probe: boolean): void {
    if (probe && this.#state === "half-open") this.#probeSince = undefined;
  }

  #open(): void {
    // One reading of the clock: `since` and `probeAt` of an open breaker are exactly a cooldown apart.
    const now = this.#clock.now();
    this.#openedAt = now;
    this.#probeSince = undefined;
    this.#timeouts.success();
    this.#transition("open", now);
  }

  #probeLeaseMs(): number {
    return Math.max(this.#settings.cooldownMs, 60_000);
  }

  #transition(state: BreakerState, now = this.#clock.now()): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#since = now;
    this.#onChange(state);
  }
}

/** Fills in defaults and checks ranges, so a bad setting fails when it is configured, not mid-call. */
export function resolveBreakerSettings(settings: BreakerSettings = {}): Required<BreakerSettings> {
  const resolved = { ...defaultBreakerSettings, ...settings };
  const problems: string[] = [];
  if (!(resolved.failureRate > 0 && resolved.failureRate < 1)) {
    problems.push(`failureRate must be between 0 and 1 exclusive (got ${resolved.failureRate})`);
  }
  if (!Number.isSafeInteger(resolved.sampleSize) || resolved.sampleSize < 1) {
    problems.push(`sampleSize must be a positive integer (got ${resolved.sampleSize})`);
  }
  if (
    !Number.isSafeInteger(resolved.minimumCalls) ||
    resolved.minimumCalls < 1 ||
    resolved.minimumCalls > resolved.sampleSize
  ) {
    problems.push(
      `minimumCalls must be an integer from 1 to sampleSize (got ${resolved.minimumCalls})`,
    );
  }
  if (!Number.isSafeInteger(resolved.consecutiveTimeouts) || resolved.consecutiveTimeouts < 1) {
    problems.push(
      `consecutiveTimeouts must be a positive integer (got ${resolved.consecutiveTimeouts})`,
    );
  }
  if (!(resolved.cooldownMs >= 0 && Number.isFinite(resolved.cooldownMs))) {
    problems.push(`cooldownMs must be a non-negative number (got ${resolved.cooldownMs})`);
  }
  if (problems.length > 0) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `invalid circuit breaker settings: ${problems.join("; ")}`,
      {
        context: { breaker: settings },
      },
    );
  }
  return resolved;
}
