import type { Clock, Transport, TransportRequest, TransportResponse } from "@capflow/core";

/**
 * Time for the demo: the example definitions use real-world schedules (poll after 15 s, 30 s,
 * 3 min …, callback deadlines of 30 min and more) and the demo must finish in seconds.
 *
 * The design, and why it is correct:
 *
 * - One clock for everything that reads time: the engine (schedules, deadlines, leases, locks,
 *   rate limits, `{{now}}` in templates), the crypto handlers of both sides (timestamps and their
 *   replay windows: the engine passes its clock to its handlers, the demo passes the same clock to
 *   the mock funders' handlers through `CryptoHandlerDeps.clock`), and the mock funders (callback
 *   delays and retries, latency faults). Nothing compares a time from this clock with real time.
 * - It runs `speed` times faster than real time: `now()` advances `speed` ms per real ms, and
 *   `sleep(ms)` waits `ms / speed` real ms. Every relation between two times (a timestamp within
 *   its 5-minute window, a lease longer than a step) keeps its meaning, just compressed.
 * - When the whole system is quiescent (no partner call or callback in flight, no instance due),
 *   the demo skips ahead to the next due time with `skipTo`, as a test does with a manual clock.
 *   Nothing can observe the jump except through the store's due times, which is the point. A skip
 *   is capped (`maxSkipMs`) below the shortest replay window, so that even a message sealed just
 *   before a skip (a race the quiescence check makes unlikely) is still fresh when it is opened.
 * - HTTP timeouts are the transport's (undici, real time): `ScaledTransport` divides them by the
 *   same speed, with a floor so that a loopback call under load is not mistaken for a timeout.
 */
export class FastClock implements Clock {
  readonly speed: number;
  readonly #originMs: number;
  readonly #realOrigin = performance.now();
  #skippedMs = 0;
  readonly #sleepers = new Set<() => void>();

  constructor(options: { speed: number; startMs?: number }) {
    this.speed = options.speed;
    this.#originMs = options.startMs ?? Date.now();
  }

  now(): number {
    return Math.floor(
      this.#originMs + (performance.now() - this.#realOrigin) * this.speed + this.#skippedMs,
    );
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Always through the event loop, like a real timer: a caller that polls in a loop with short
    // sleeps must never starve I/O.
    if (ms <= 0) return new Promise((resolve) => setImmediate(resolve));
    const wakeAt = this.now() + ms;
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        this.#sleepers.delete(check);
        signal?.removeEventListener("abort", abort);
      };
      const check = () => {
        const left = wakeAt - this.now();
        if (left <= 0) {
          finish();
          resolve();
          return;
        }
        clearTimeout(timer);
        timer = setTimeout(check, Math.max(1, Math.ceil(left / this.speed)));
      };
      const abort = () => {
        finish();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#sleepers.add(check);
      check();
    });
  }

  /** The clock's time when it was created. */
  get startMs(): number {
    return this.#originMs;
  }

  /** Time skipped so far, in clock milliseconds. */
  get skippedMs(): number {
    return this.#skippedMs;
  }

  /** Jumps forward to `time` (never backwards), waking the sleeps that fall due. */
  skipTo(time: number): void {
    const gap = time - this.now();
    if (gap <= 0) return;
    this.#skippedMs += gap;
    for (const check of [...this.#sleepers]) check();
  }
}

/**
 * The engine's transport with timeouts on the demo's time scale, counting calls in flight (one of
 * the signs that the system is busy and time must not skip).
 */
export class ScaledTransport implements Transport {
  readonly #inner: Transport;
  readonly #speed: number;
  readonly #minTimeoutMs: number;
  #inFlight = 0;

  constructor(inner: Transport, options: { speed: number; minTimeoutMs?: number }) {
    this.#inner = inner;
    this.#speed = options.speed;
    this.#minTimeoutMs = options.minTimeoutMs ?? 1_000;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    this.#inFlight++;
    try {
      return await this.#inner.send({
        ...request,
        timeoutMs: Math.max(this.#minTimeoutMs, Math.ceil(request.timeoutMs / this.#speed)),
        connectTimeoutMs: Math.max(
          this.#minTimeoutMs,
          Math.ceil(request.connectTimeoutMs / this.#speed),
        ),
      });
    } finally {
      this.#inFlight--;
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
