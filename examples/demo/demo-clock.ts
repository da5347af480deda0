import {
  CapflowError,
  type Clock,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from "@capflow/core";

/**
 * Time for the demo: the example definitions use real-world schedules (poll after 15 s, 30 s,
 * 3 min …, callback deadlines of 30 min and more) and the demo must finish in seconds, on a quiet
 * machine and on one busy with other work alike.
 *
 * The design, and why it is correct:
 *
 * - One clock for everything that reads time: the engine (schedules, deadlines, leases, locks,
 *   rate limits, `{{now}}` in templates), the crypto handlers of both sides (timestamps and their
 *   replay windows: the engine passes its clock to its handlers, the demo passes the same clock to
 *   the mock funders' handlers through `CryptoHandlerDeps.clock`), the mock funders (callback
 *   delays and retries, latency faults) and the demo's transport (HTTP timeouts). Nothing compares
 *   a time from this clock with real time.
 * - Funder time does not flow by itself: it moves only when the system is quiet, that is when no
 *   work is under way except waits on this clock (`run-demo.ts` decides), and then straight to
 *   the next thing due: an instance's due time, or the end of a sleep (a funder's latency, a
 *   callback's delay, a request's timeout). That is discrete-event simulation, as a test does with
 *   a manual clock. A slow or busy machine therefore sees exactly the funder time a fast one sees:
 *   no schedule, deadline, lease or replay window can run out because the machine was busy.
 * - A jump is capped (`maxSkipMs` in run-demo.ts) so that a message sealed before it is still
 *   fresh for the replay windows after it.
 * - `view()` gives a part of the system its own view of the clock (same time, own sleeps): the
 *   demo's worker idles on one, so that its idle wake-ups do not count as "the next thing due".
 */
export class DemoClock implements Clock {
  readonly #originMs: number;
  #skippedMs = 0;
  readonly #sleepers = new Map<() => void, { wakeAt: number; owner: DemoClock | ClockView }>();

  constructor(options: { startMs?: number } = {}) {
    this.#originMs = options.startMs ?? Date.now();
  }

  now(): number {
    return this.#originMs + this.#skippedMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.sleepFor(this, ms, signal);
  }

  /** A sleep on behalf of `owner` (this clock or one of its views). */
  sleepFor(owner: DemoClock | ClockView, ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Always through the event loop, like a real timer: a caller that polls in a loop with short
    // sleeps must never starve I/O.
    if (ms <= 0) return new Promise((resolve) => setImmediate(resolve));
    const wakeAt = this.now() + ms;
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        this.#sleepers.delete(wake);
        signal?.removeEventListener("abort", abort);
        resolve();
      };
      const abort = () => {
        this.#sleepers.delete(wake);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#sleepers.set(wake, { wakeAt, owner });
    });
  }

  /** A view of this clock: the same time, its sleeps told apart (see `nextWakeAt`). */
  view(): ClockView {
    return new ClockView(this);
  }

  /** When the earliest sleep ends, among the sleeps of `owners` (default: all). */
  nextWakeAt(owners?: readonly (DemoClock | ClockView)[]): number | undefined {
    let next: number | undefined;
    for (const { wakeAt, owner } of this.#sleepers.values()) {
      if (owners !== undefined && !owners.includes(owner)) continue;
      if (next === undefined || wakeAt < next) next = wakeAt;
    }
    return next;
  }

  /** The clock's time when it was created. */
  get startMs(): number {
    return this.#originMs;
  }

  /** Funder time moved so far, in clock milliseconds. */
  get skippedMs(): number {
    return this.#skippedMs;
  }

  /** Moves forward to `time` (never backwards), waking the sleeps that fall due, earliest first. */
  skipTo(time: number): void {
    const gap = time - this.now();
    if (gap <= 0) return;
    this.#skippedMs += gap;
    const due = [...this.#sleepers.entries()]
      .filter(([, sleeper]) => sleeper.wakeAt <= time)
      .sort(([, a], [, b]) => a.wakeAt - b.wakeAt);
    for (const [wake] of due) wake();
  }
}

/** One part's view of a `DemoClock`. */
export class ClockView implements Clock {
  readonly #clock: DemoClock;

  constructor(clock: DemoClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.#clock.sleepFor(this, ms, signal);
  }
}

/**
 * The engine's transport with its timeouts on the demo clock (a slow machine is not a slow
 * funder), keeping the calls in flight (one of the signs that the system is busy and time must
 * not move). Each request carries its call's id in `x-demo-call`, so that the demo can tell a call
 * the funder holds on the demo clock from one still on its way to it. The inner transport keeps a
 * generous real-time limit, for a loopback call that hangs.
 */
export class DemoTransport implements Transport {
  readonly #inner: Transport;
  readonly #clock: Clock;
  readonly #calls = new Set<string>();
  #sent = 0;

  constructor(inner: Transport, options: { clock: Clock }) {
    this.#inner = inner;
    this.#clock = options.clock;
  }

  get inFlight(): number {
    return this.#calls.size;
  }

  /** The ids (`x-demo-call`) of the calls in flight. */
  get callsInFlight(): ReadonlySet<string> {
    return this.#calls;
  }

  /** Calls begun so far. */
  get sent(): number {
    return this.#sent;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const id = String(++this.#sent);
    this.#calls.add(id);
    const abandon = new AbortController();
    const stopTimer = new AbortController();
    const abort = () => abandon.abort(request.signal?.reason);
    request.signal?.addEventListener("abort", abort, { once: true });
    try {
      const sending = this.#inner.send({
        ...request,
        headers: { ...request.headers, [demoCallHeader]: id },
        timeoutMs: realLimitMs,
        connectTimeoutMs: realLimitMs,
        signal: abandon.signal,
      });
      const timedOut = this.#clock.sleep(request.timeoutMs, stopTimer.signal).then(
        () => true,
        () => false,
      );
      const first = await Promise.race([sending.then(() => false), timedOut]);
      if (!first) return await sending;
      sending.catch(() => undefined);
      abandon.abort();
      throw new CapflowError(
        "TRANSPORT_UNKNOWN_OUTCOME",
        `${request.method} ${request.url} may have reached the partner (no answer within ${request.timeoutMs} ms of demo time); query its status before sending it again`,
      );
    } finally {
      stopTimer.abort();
      request.signal?.removeEventListener("abort", abort);
      this.#calls.delete(id);
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** The header that carries a call's id in the demo (lower case, as a server receives it). */
export const demoCallHeader = "x-demo-call";

/** Real-time limit of a loopback call in the demo: far beyond any starved scheduling delay. */
const realLimitMs = 120_000;
