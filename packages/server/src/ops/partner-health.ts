import type {
  BreakerBoard,
  BreakerReport,
  ChannelDefinition,
  Limiter,
  LimiterState,
  Limits,
  PartnerLatency,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";

/** Where the cluster keeps flow control's state, for the overview (`CreateServerOptions.flow`). */
export interface FlowStateSources {
  /** The limiter every node takes permits from (`openRedis().limiter` in a cluster). */
  limiter: Limiter;
  /** Where every node reports its open breakers (`openRedis().breakers` in a cluster). */
  breakers?: BreakerBoard;
}

/** One channel interface's health across the cluster. */
export interface PartnerInterfaceView {
  channel: string;
  interface: string;
  /** Calls that reached the partner in the last hour; null when there were none. */
  latency: { calls: number; p50Ms: number; p99Ms: number } | null;
  /**
   * The breaker over every node: `open` when any node holds it open, `half-open` when any node is
   * probing, else `closed`; with how many nodes hold each. Null when not known.
   */
  breaker: {
    state: "closed" | "open" | "half-open";
    openNodes: number;
    halfOpenNodes: number;
    /** Earliest `since` of the nodes in the shown state; null when closed. */
    since: number | null;
    /** While open: the soonest a node lets a probe through. */
    probeAt: number | null;
  } | null;
  /**
   * How full the interface's shared limits are; `saturation` is the fuller of the two (0 to 1).
   * Null without limits, or when the limiter cannot say.
   */
  limiter: {
    concurrency: { held: number; limit: number } | null;
    rate: { inWindow: number; limit: number; windowMs: number } | null;
    saturation: number;
  } | null;
}

/** A channel account's own limits (a funder's limit per merchant id), on top of its interfaces'. */
export interface AccountLimitView {
  channel: string;
  account: string;
  /** How full its shared limits are; null when the limiter cannot say. */
  limiter: PartnerInterfaceView["limiter"];
}

/** Whether the breaker and limiter columns could be read. */
export type FlowStateStatus = "known" | "not-configured" | "unavailable";

/**
 * Joins the hour's latency (from the store), every node's breaker reports and the shared
 * limiter's counts per channel interface: every interface of the given channels, plus any other
 * that has latency or a breaker report (a renamed interface still calling); and the fill of each
 * channel account's own limits, under the keys flow control takes them by.
 */
export async function partnerHealth(
  channels: readonly ChannelDefinition[],
  latency: readonly PartnerLatency[],
  flow: FlowStateSources | undefined,
  now: number,
): Promise<{
  partners: PartnerInterfaceView[];
  accounts: AccountLimitView[];
  flowState: FlowStateStatus;
}> {
  const rows = new Map<string, PartnerInterfaceView>();
  /** Limiter key (as flow control takes permits) -> its limits and where its fill is shown. */
  const limitsOf = new Map<
    string,
    { limits: Limits; show: { limiter: AccountLimitView["limiter"] } }
  >();
  const accounts: AccountLimitView[] = [];
  const rowOf = (channel: string, interfaceName: string) => {
    const key = JSON.stringify([channel, interfaceName]);
    let row = rows.get(key);
    if (row === undefined) {
      row = { channel, interface: interfaceName, latency: null, breaker: null, limiter: null };
      rows.set(key, row);
    }
    return row;
  };
  for (const channel of channels) {
    for (const [name, definition] of Object.entries(channel.interfaces)) {
      const row = rowOf(channel.code, name);
      const limits = limitsFrom(definition);
      if (limits !== undefined) limitsOf.set(`${channel.code}:${name}`, { limits, show: row });
    }
    for (const [code, definition] of Object.entries(channel.accounts ?? {})) {
      const limits = limitsFrom(definition);
      if (limits === undefined) continue;
      const account: AccountLimitView = { channel: channel.code, account: code, limiter: null };
      accounts.push(account);
      limitsOf.set(`${channel.code}#${code}`, { limits, show: account });
    }
  }

  for (const sample of latency) {
    rowOf(sample.channel, sample.interface).latency = {
      calls: sample.calls,
      p50Ms: sample.p50Ms,
      p99Ms: sample.p99Ms,
    };
  }

  let flowState: FlowStateStatus = flow === undefined ? "not-configured" : "known";
  if (flow !== undefined) {
    let reports: BreakerReport[] | undefined;
    let usage: {
      limits: Limits;
      show: { limiter: AccountLimitView["limiter"] };
      state: LimiterState | undefined;
    }[] = [];
    try {
      [reports, usage] = await Promise.all([
        flow.breakers?.list(now),
        Promise.all(
          [...limitsOf].map(async ([key, { limits, show }]) => ({
            limits,
            show,
            state: await flow.limiter.state?.(key, limits),
          })),
        ),
      ]);
    } catch {
      // Redis away: the counts from PostgreSQL still help; these columns say "not known".
      flowState = "unavailable";
      reports = undefined;
      usage = [];
    }
    if (reports !== undefined) {
      for (const row of rows.values()) row.breaker = closedBreaker();
      for (const report of reports) addReport(rowOf(report.channel, report.interface), report);
    } else if (flowState === "known" && flow.breakers === undefined) {
      flowState = "not-configured";
    }
    for (const { limits, show, state } of usage) {
      if (state === undefined) continue;
      const concurrency =
        limits.concurrency === undefined ? null : { held: state.held, limit: limits.concurrency };
      const rate =
        limits.rate === undefined
          ? null
          : { inWindow: state.inWindow, limit: limits.rate.limit, windowMs: limits.rate.windowMs };
      show.limiter = {
        concurrency,
        rate,
        saturation: Math.max(
          concurrency ? fullness(concurrency.held, concurrency.limit) : 0,
          rate ? fullness(rate.inWindow, rate.limit) : 0,
        ),
      };
    }
  }
  const partners = [...rows.values()].sort(
    (a, b) => a.channel.localeCompare(b.channel) || a.interface.localeCompare(b.interface),
  );
  accounts.sort((a, b) => a.channel.localeCompare(b.channel) || a.account.localeCompare(b.account));
  return { partners, accounts, flowState };
}

/** The shared limits a definition sets (an interface's or an account's), if any. */
function limitsFrom(definition: {
  concurrency?: number;
  rate?: { limit: number; per: Parameters<typeof parseDuration>[0] };
}): Limits | undefined {
  const limits: Limits = {};
  if (definition.concurrency !== undefined) limits.concurrency = definition.concurrency;
  if (definition.rate !== undefined) {
    limits.rate = { limit: definition.rate.limit, windowMs: parseDuration(definition.rate.per) };
  }
  return limits.concurrency === undefined && limits.rate === undefined ? undefined : limits;
}

function closedBreaker(): NonNullable<PartnerInterfaceView["breaker"]> {
  return { state: "closed", openNodes: 0, halfOpenNodes: 0, since: null, probeAt: null };
}

/** Open wins over half-open wins over closed: the worst node is what operators need to see. */
function addReport(row: PartnerInterfaceView, report: BreakerReport): void {
  const breaker = row.breaker ?? closedBreaker();
  row.breaker = breaker;
  if (report.state === "open") breaker.openNodes++;
  else breaker.halfOpenNodes++;
  const rank = { closed: 0, "half-open": 1, open: 2 } as const;
  if (rank[report.state] > rank[breaker.state]) {
    breaker.state = report.state;
    breaker.since = report.since;
    breaker.probeAt = report.probeAt ?? null;
  } else if (report.state === breaker.state) {
    breaker.since = Math.min(breaker.since ?? report.since, report.since);
    if (report.probeAt !== undefined) {
      breaker.probeAt = Math.min(breaker.probeAt ?? report.probeAt, report.probeAt);
    }
  }
}

/** Share of a limit in use, capped at 1; a limit of 0 is full. */
function fullness(used: number, limit: number): number {
  return limit <= 0 ? 1 : Math.min(1, used / limit);
}
