import type { BreakerBoard, BreakerReport, ClosedBreakerReport } from "../ports/breaker-board.ts";

/** The breaker board of one process: what its own flow control reports, for its own server. */
export class InProcessBreakerBoard implements BreakerBoard {
  readonly #reports = new Map<string, BreakerReport>();

  async report(report: BreakerReport | ClosedBreakerReport): Promise<void> {
    const key = JSON.stringify([report.channel, report.interface, report.node]);
    if (report.state === "closed") this.#reports.delete(key);
    else this.#reports.set(key, { ...report });
  }

  async list(now: number): Promise<BreakerReport[]> {
    const live: BreakerReport[] = [];
    for (const [key, report] of this.#reports) {
      if (report.expiresAt > now) live.push({ ...report });
      else this.#reports.delete(key);
    }
    return live;
  }
}
