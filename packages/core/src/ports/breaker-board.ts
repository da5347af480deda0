/**
 * Where every node reports the circuit breakers it holds open or half-open, so that any node can
 * show the cluster's. Breakers themselves stay per node (each decides from its own calls, see
 * `FlowControl`); the board only tells operators which node refuses which interface. Redis-backed
 * in @capflow/lock-redis; in-process in core for a single node.
 */
export interface BreakerBoard {
  /** Records one node's breaker of one channel interface; a `closed` report removes it. */
  report(report: BreakerReport | ClosedBreakerReport): Promise<void>;
  /** Every node's open or half-open breakers whose report has not expired at `now` (epoch ms). */
  list(now: number): Promise<BreakerReport[]>;
}

export interface BreakerReport {
  channel: string;
  interface: string;
  /** The reporting node (host and process by default). */
  node: string;
  state: "open" | "half-open";
  /** When the breaker entered this state (epoch ms, the reporting node's clock). */
  since: number;
  /** While open: when the next call goes through as a probe. */
  probeAt?: number;
  /**
   * After this the report no longer counts, so a node that stopped (or stopped calling the
   * interface) leaves nothing behind: an open breaker no call has tried since is shown closed.
   */
  expiresAt: number;
}

export interface ClosedBreakerReport {
  channel: string;
  interface: string;
  node: string;
  state: "closed";
}
