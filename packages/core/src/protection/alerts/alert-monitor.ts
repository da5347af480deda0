import { randomUUID } from "node:crypto";
import { request } from "undici";
import { createDefaultSecretResolver } from "../../crypto/secret-resolvers.ts";
import { parseDuration } from "../../definition/duration.ts";
import type { EngineEvent } from "../../engine/engine-events.ts";
import { MemoryAlertCounts } from "../../memory/memory-alert-counts.ts";
import {
  type AlertCount,
  type AlertCountStore,
  type AlertSignal,
  alertBucketMs,
} from "../../ports/alert-count-store.ts";
import type { AlertRecord, AlertStore, NewAlert } from "../../ports/alert-store.ts";
import type { BreakerBoard, BreakerReport } from "../../ports/breaker-board.ts";
import type { Clock } from "../../ports/clock.ts";
import { type ExclusiveRunner, inProcessExclusiveRunner } from "../../ports/exclusive-runner.ts";
import type { SecretResolver } from "../../ports/secret-resolver.ts";
import type { StuckStore } from "../../ports/stuck-store.ts";
import { Redacted } from "../../redacted.ts";
import type { FlowEvent } from "../../runtime/flow-control/flow-control.ts";
import type { AlertRule, AlertSink, AlertsConfig } from "./alert-config.ts";
import { type SinkRequest, sinkAccepted, sinkRequest } from "./alert-message.ts";

/** Sends one request to a sink; returns the answer's status and body. Default: undici. */
export type SinkSender = (request: SinkRequest) => Promise<{ status: number; body: string }>;

/** A key or certificate close to expiry, for the `certificate-expiry` rule. */
export interface ExpiringCertificate {
  /** What expires: `lanbank /crypto/options/keys/0`. */
  subject: string;
  message: string;
}

/**
 * A statement whose latest run of a business date left differences unresolved, for the
 * `reconciliation` rule (`reconciliationAlerts` of `@capflow/reconcile` gives these).
 */
export interface OpenReconciliation {
  channel: string;
  /** One per statement, date and file: `lanbank/loan-daily 2026-12-05 sha256:4f1c2a9e0b7d`. */
  subject: string;
  summary: string;
  details: Record<string, unknown>;
}

export interface AlertMonitorOptions {
  config: AlertsConfig;
  store: AlertStore;
  clock: Clock;
  /** Resolves sinks' `secret` references. Default: `env:`, `file:`, `inline:`. */
  secrets?: SecretResolver;
  /** For `stuck` rules. */
  stuck?: Pick<StuckStore, "stuckCounts">;
  /** For `outbox-failing` rules. */
  outbox?: { outboxBacklog(): Promise<{ failed: number; pending: number }> };
  /** For `certificate-expiry` rules: `channelCertificateExpiry` reads the stored channels' certificates. */
  certificates?: (withinDays: number) => Promise<ExpiringCertificate[]>;
  /** For `reconciliation` rules: every open reconciliation now. */
  reconciliation?: () => Promise<OpenReconciliation[]>;
  /**
   * Where the counts behind `failure-rate`, `limiter-saturated` and `callbacks-refused` rules are
   * kept: `KnexAlertCountStore` shares them, so the rules judge the whole cluster (each node adds
   * its own every round). Default: this node's own, in memory.
   */
  counts?: AlertCountStore;
  /**
   * Where every node reports its open and half-open breakers (`openRedis().breakers`, the board
   * the nodes' `FlowControl` writes to): `breaker-open` rules are then judged at each evaluation
   * over every node, and a node that died with a breaker open stops counting when its report
   * expires. Default: the breakers this node's flow control reports through `observeFlow`.
   */
  breakers?: Pick<BreakerBoard, "list">;
  /** `run` evaluates on one node at a time (`knexExclusiveRunner(db)`). Default: in-process. */
  exclusive?: ExclusiveRunner;
  send?: SinkSender;
  /** Time between `run` rounds. Default 30 s. */
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

/** What one evaluation did. */
export interface AlertRound {
  fired: AlertRecord[];
  resolved: AlertRecord[];
  notifications: number;
}

const failureOutcomes = new Set(["failed"]);

/**
 * Alert rules over what the engine and the stores report: failure rates per channel and interface,
 * limiters refusing calls minute after minute, refused callbacks (from engine events, counted in
 * `counts`: with a shared store, over the cluster), breakers open on any node (`breakers`, or
 * this node's flow events), stuck instances, expiring
 * certificates, failing outbox deliveries, and alerts other parts raise. An alert is opened once
 * per rule and subject (the store's deduplication, across nodes), sent to the rule's sinks (DingTalk,
 * WeCom, Feishu robots, a signed webhook) within each sink's rate limit, sent again every
 * `repeatEvery` while firing, and resolved, with a last message, when its condition clears.
 *
 * ```ts
 * const alerts = new AlertMonitor({ config, store: new KnexAlertStore(db), clock: systemClock, stuck });
 * const engine = createEngine({ ..., onEvent: (event) => alerts.observe(event) });
 * await alerts.evaluate(); // or alerts.run(signal)
 * ```
 */
export class AlertMonitor {
  readonly #options: AlertMonitorOptions;
  readonly #rules: AlertRule[];
  readonly #sinks: Map<string, AlertSink>;
  readonly #secrets: SecretResolver;
  readonly #send: SinkSender;
  readonly #counts: AlertCountStore;
  readonly #exclusive: ExclusiveRunner;
  /** Counts observed since the last flush, by signal, channel, subject and bucket. */
  readonly #unflushed = new Map<string, AlertCount>();
  /** How far back rules read counts. */
  readonly #keepMs: number;
  /** What the rules need counted; nothing else is. */
  readonly #signals = new Set<AlertSignal>();
  readonly #sentAt = new Map<string, number[]>();
  /** Breakers open now, seen by this node, per rule subject `channel/interface`. */
  readonly #openBreakers = new Set<string>();
  #pending: Promise<unknown> = Promise.resolve();

  constructor(options: AlertMonitorOptions) {
    this.#options = options;
    this.#rules = options.config.rules;
    this.#sinks = new Map(options.config.sinks.map((sink) => [sink.name, sink]));
    this.#secrets = options.secrets ?? createDefaultSecretResolver();
    this.#send = options.send ?? sendWithUndici;
    this.#counts = options.counts ?? new MemoryAlertCounts();
    this.#exclusive = options.exclusive ?? inProcessExclusiveRunner();
    for (const rule of this.#rules) {
      if (rule.kind === "failure-rate") this.#signals.add("calls");
      if (rule.kind === "limiter-saturated") this.#signals.add("limiter");
      if (rule.kind === "callbacks-refused") this.#signals.add("callbacks");
    }
    this.#keepMs = Math.max(
      10 * 60_000,
      ...this.#rules.flatMap((rule) => {
        if (rule.kind === "failure-rate" || rule.kind === "callbacks-refused") {
          return [parseDuration(rule.window)];
        }
        if (rule.kind === "limiter-saturated") {
          return [parseDuration(rule.for), parseDuration(rule.clearAfter ?? "2m")];
        }
        return [];
      }),
    );
  }

  /**
   * Feed engine events: calls and polls are counted for `failure-rate` rules, partner requests
   * and their limiter refusals for `limiter-saturated`, notifications and their refusals for
   * `callbacks-refused`.
   */
  observe(event: EngineEvent): void {
    switch (event.type) {
      case "step.succeeded":
      case "step.failed": {
        if (event.channel === undefined || event.interface === undefined) return;
        const failed =
          event.type === "step.failed"
            ? event.code !== "CALENDAR_CLOSED"
            : failureOutcomes.has(event.outcome);
        if (event.type === "step.failed" && !failed) return;
        this.#count("calls", event.channel, event.interface, failed);
        return;
      }
      case "partner.called": {
        const limited =
          event.outcome === "refused" &&
          (event.refusal === "concurrency" || event.refusal === "rate");
        this.#count("limiter", event.channel, event.interface, limited);
        return;
      }
      case "callback.received":
        this.#count("callbacks", event.channel, event.callback, false);
        return;
      case "callback.rejected":
        this.#count("callbacks", event.channel, event.callback, true);
        return;
    }
  }

  /**
   * Adds what this node counted since the last flush to the count store, where the evaluating
   * node reads it. `run` and `evaluate` flush; a stopping host flushes last.
   */
  async flush(): Promise<void> {
    if (this.#unflushed.size === 0) return;
    const counts = [...this.#unflushed.values()];
    this.#unflushed.clear();
    try {
      await this.#counts.addCounts(counts);
    } catch (error) {
      // Kept for the next flush: a count is added once, late rather than never.
      for (const count of counts) this.#add(count);
      throw error;
    }
  }

  #count(signal: AlertSignal, channel: string, subject: string, hit: boolean): void {
    if (!this.#signals.has(signal)) return;
    const at = this.#options.clock.now();
    this.#add({
      signal,
      channel,
      subject,
      bucket: at - (at % alertBucketMs),
      total: 1,
      hits: hit ? 1 : 0,
    });
  }

  #add(count: AlertCount): void {
    const key = `${count.signal}\u0000${count.channel}\u0000${count.subject}\u0000${count.bucket}`;
    const known = this.#unflushed.get(key);
    if (known) {
      known.total += count.total;
      known.hits += count.hits;
    } else {
      this.#unflushed.set(key, { ...count });
    }
  }

  /**
   * Feed flow-control events. Without a breaker board, a breaker opening fires `breaker-open`
   * rules at once and closing resolves them; with one, the board is judged at each evaluation
   * (another node may hold the same breaker open), and these events change nothing.
   */
  observeFlow(event: FlowEvent): void {
    if (this.#options.breakers !== undefined) return;
    if (event.type !== "breaker.open" && event.type !== "breaker.closed") return;
    const subject = `${event.channel}/${event.interface}`;
    if (event.type === "breaker.open") this.#openBreakers.add(subject);
    else this.#openBreakers.delete(subject);
    for (const rule of this.#rules) {
      if (rule.kind !== "breaker-open" || (rule.channel && rule.channel !== event.channel))
        continue;
      this.#track(
        event.type === "breaker.open"
          ? this.#fire(
              rule,
              subject,
              `the circuit breaker of ${subject} opened: calls are held back until a probe succeeds`,
              {},
            )
          : this.#resolve(rule, subject),
      );
    }
  }

  /** Raises an alert of a `raised` rule (e.g. queued starts that expired). */
  async raise(
    ruleName: string,
    subject: string,
    summary: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    const rule = this.#rules.find(
      (candidate) => candidate.name === ruleName && candidate.kind === "raised",
    );
    if (!rule) return;
    await this.#fire(rule, subject, summary, details, { raise: true });
  }

  /** Waits for alerts raised from events to be stored and sent (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#pending;
  }

  /**
   * Evaluates every rule once (or only rules of the given kinds, e.g. `reconciliation` right after
   * a run): fires, resolves, and re-sends alerts due a reminder.
   */
  async evaluate(only?: { kinds?: readonly AlertRule["kind"][] }): Promise<AlertRound> {
    await this.settled();
    await this.flush();
    const round: AlertRound = { fired: [], resolved: [], notifications: 0 };
    const now = this.#options.clock.now();
    const rules = this.#rules.filter(
      (rule) => only?.kinds === undefined || only.kinds.includes(rule.kind),
    );
    // Read once per evaluation, by the first rule that needs them.
    let counts: Promise<AlertCount[]> | undefined;
    const readCounts = () => {
      counts ??= this.#counts.countsSince(now - this.#keepMs - alertBucketMs);
      return counts;
    };
    for (const rule of rules) {
      const conditions = await this.#conditions(rule, now, readCounts);
      if (conditions === undefined) continue;
      const firing = new Set<string>();
      for (const condition of conditions.firing) {
        firing.add(condition.subject);
        const fired = await this.#fire(
          rule,
          condition.subject,
          condition.summary,
          condition.details,
        );
        if (fired) round.fired.push(fired);
      }
      const open = await this.#openOf(rule);
      for (const alert of open) {
        if (firing.has(alert.subject) || !conditions.clears(alert.subject)) continue;
        const resolved = await this.#resolve(rule, alert.subject, conditions.raisedBefore);
        if (resolved) round.resolved.push(resolved);
      }
    }
    // Reminders for alerts still firing.
    for (const alert of await this.#options.store.listAlerts({ status: "firing", limit: 1000 })) {
      const rule = rules.find((candidate) => candidate.name === alert.rule);
      if (!rule) continue;
      const every = parseDuration(rule.repeatEvery ?? "4h");
      if (alert.lastNotifiedAt !== null && alert.lastNotifiedAt + every <= now) {
        round.notifications += await this.#notify(rule, alert, "firing");
      }
    }
    if (counts !== undefined) await this.#counts.purgeCounts(now - 2 * this.#keepMs);
    return round;
  }

  /**
   * Every `intervalMs` until the signal aborts: adds this node's counts to the shared ones, and
   * evaluates the rules unless another node is evaluating them (`exclusive`).
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.flush();
        await this.#exclusive.runExclusive("capflow:alerts", () => this.evaluate());
      } catch (error) {
        this.#options.onError?.(error);
      }
      await this.#options.clock.sleep(this.#options.intervalMs ?? 30_000, signal).catch(() => {});
    }
  }

  async #conditions(
    rule: AlertRule,
    now: number,
    readCounts: () => Promise<AlertCount[]>,
  ): Promise<
    | {
        firing: { subject: string; summary: string; details: Record<string, unknown> }[];
        clears: (subject: string) => boolean;
        /** Resolve only alerts last raised at or before this (a raise meanwhile keeps one open). */
        raisedBefore?: number;
      }
    | undefined
  > {
    switch (rule.kind) {
      case "failure-rate": {
        const windowMs = parseDuration(rule.window);
        const minimum = rule.minimumCalls ?? 10;
        const totals = sumCounts(await readCounts(), "calls", now, windowMs).filter(
          (t) =>
            (!rule.channel || t.channel === rule.channel) &&
            (!rule.interface || t.subject === rule.interface),
        );
        const bySubject = new Map(totals.map((t) => [`${t.channel}/${t.subject}`, t]));
        return {
          firing: totals
            .filter((t) => t.total >= minimum && t.hits / t.total > rule.above)
            .map((t) => ({
              subject: `${t.channel}/${t.subject}`,
              summary: `${t.hits} of ${t.total} calls to ${t.channel} ${t.subject} failed in the last ${rule.window} (${Math.round((t.hits / t.total) * 100)}%, above ${Math.round(rule.above * 100)}%)`,
              details: {
                channel: t.channel,
                interface: t.subject,
                calls: t.total,
                failures: t.hits,
                window: rule.window,
              },
            })),
          clears: (subject) => {
            const t = bySubject.get(subject);
            return (
              t === undefined ||
              t.total === 0 ||
              (t.total >= minimum && t.hits / t.total <= rule.above)
            );
          },
        };
      }
      case "callbacks-refused": {
        const windowMs = parseDuration(rule.window);
        const minimum = rule.minimumCallbacks ?? 10;
        const perChannel = new Map<string, { total: number; hits: number }>();
        for (const t of sumCounts(await readCounts(), "callbacks", now, windowMs)) {
          if (rule.channel && t.channel !== rule.channel) continue;
          const sum = perChannel.get(t.channel) ?? { total: 0, hits: 0 };
          sum.total += t.total;
          sum.hits += t.hits;
          perChannel.set(t.channel, sum);
        }
        return {
          firing: [...perChannel]
            .filter(([, t]) => t.total >= minimum && t.hits / t.total > rule.above)
            .map(([channel, t]) => ({
              subject: channel,
              summary: `${t.hits} of ${t.total} notifications from ${channel} were refused in the last ${rule.window} (${Math.round((t.hits / t.total) * 100)}%, above ${Math.round(rule.above * 100)}%): forged, replayed or misconfigured; see the server's log`,
              details: { channel, callbacks: t.total, refused: t.hits, window: rule.window },
            })),
          clears: (subject) => {
            const t = perChannel.get(subject);
            return (
              t === undefined ||
              t.total === 0 ||
              (t.total >= minimum && t.hits / t.total <= rule.above)
            );
          },
        };
      }
      case "limiter-saturated": {
        const forMs = parseDuration(rule.for);
        const clearMs = parseDuration(rule.clearAfter ?? "2m");
        const minutes = Math.max(1, Math.ceil(forMs / 60_000));
        // Per channel and interface: the minutes (counted back from now) with a limiter refusal,
        // and the latest refusal.
        const seen = new Map<string, { minutes: Set<number>; last: number }>();
        for (const count of await readCounts()) {
          if (count.signal !== "limiter" || count.hits === 0) continue;
          if (rule.channel && count.channel !== rule.channel) continue;
          if (rule.interface && count.subject !== rule.interface) continue;
          const key = `${count.channel}/${count.subject}`;
          const entry = seen.get(key) ?? { minutes: new Set<number>(), last: 0 };
          const ago = now - count.bucket;
          if (ago >= 0) entry.minutes.add(Math.floor(ago / 60_000));
          entry.last = Math.max(entry.last, count.bucket + alertBucketMs);
          seen.set(key, entry);
        }
        const saturated = [...seen].filter(([, entry]) =>
          Array.from({ length: minutes }, (_, i) => i).every((i) => entry.minutes.has(i)),
        );
        return {
          firing: saturated.map(([subject]) => ({
            subject,
            summary: `calls to ${subject.replace("/", " ")} were refused by its limiter in every minute of the last ${rule.for}: the limit is too low for the load, or the funder is slow to answer`,
            details: { for: rule.for },
          })),
          clears: (subject) => {
            const entry = seen.get(subject);
            return entry === undefined || entry.last + clearMs <= now;
          },
        };
      }
      case "stuck": {
        if (!this.#options.stuck) return undefined;
        const perChannel = new Map<string, number>();
        for (const count of await this.#options.stuck.stuckCounts()) {
          if (rule.channel && count.channel !== rule.channel) continue;
          perChannel.set(count.channel, (perChannel.get(count.channel) ?? 0) + count.count);
        }
        return {
          firing: [...perChannel]
            .filter(([, count]) => count > rule.above)
            .map(([channel, count]) => ({
              subject: channel,
              summary: `${count} stuck instances (卡单) on ${channel}, above ${rule.above}: see capflow instances stuck --channel ${channel}`,
              details: { channel, stuck: count },
            })),
          clears: (subject) => (perChannel.get(subject) ?? 0) <= rule.above,
        };
      }
      case "certificate-expiry": {
        if (!this.#options.certificates) return undefined;
        const expiring = await this.#options.certificates(rule.withinDays);
        const subjects = new Set(expiring.map((e) => e.subject));
        return {
          firing: expiring.map((e) => ({
            subject: e.subject,
            summary: e.message,
            details: { withinDays: rule.withinDays },
          })),
          clears: (subject) => !subjects.has(subject),
        };
      }
      case "reconciliation": {
        if (!this.#options.reconciliation) return undefined;
        const open = (await this.#options.reconciliation()).filter(
          (r) => !rule.channel || r.channel === rule.channel,
        );
        const subjects = new Set(open.map((r) => r.subject));
        return {
          firing: open.map((r) => ({ subject: r.subject, summary: r.summary, details: r.details })),
          clears: (subject) => !subjects.has(subject),
        };
      }
      case "outbox-failing": {
        if (!this.#options.outbox) return undefined;
        const backlog = await this.#options.outbox.outboxBacklog();
        return {
          firing:
            backlog.failed > rule.above
              ? [
                  {
                    subject: "outbox",
                    summary: `${backlog.failed} upstream notifications failed after every retry (above ${rule.above}); ${backlog.pending} pending`,
                    details: { ...backlog },
                  },
                ]
              : [],
          clears: () => backlog.failed <= rule.above,
        };
      }
      case "breaker-open": {
        if (this.#options.breakers === undefined) {
          return { firing: [], clears: (subject) => !this.#openBreakers.has(subject) };
        }
        let reports: BreakerReport[];
        try {
          reports = await this.#options.breakers.list(now);
        } catch (error) {
          // Board unreadable: neither fire nor resolve on what is not known.
          this.#options.onError?.(error);
          return undefined;
        }
        const held = heldBreakers(reports, rule.channel);
        return {
          firing: [...held].map(([subject, nodes]) => ({
            subject,
            summary: `the circuit breaker of ${subject} is ${describeNodes(nodes)}: calls there are held back until a probe succeeds`,
            details: {
              channel: nodes.channel,
              interface: nodes.interface,
              openOn: nodes.open,
              halfOpenOn: nodes.halfOpen,
            },
          })),
          clears: (subject) => !held.has(subject),
        };
      }
      case "raised": {
        // The last raise by any node, kept with the alert: the node evaluating need not be the
        // one that raised it. An alert opened before raises were kept counts from its firing.
        const clearAfter = parseDuration(rule.clearAfter ?? "1h");
        const lastRaised = new Map(
          (await this.#openOf(rule)).map((alert) => [
            alert.subject,
            alert.lastRaisedAt ?? alert.firedAt,
          ]),
        );
        return {
          firing: [],
          clears: (subject) =>
            (lastRaised.get(subject) ?? Number.NEGATIVE_INFINITY) + clearAfter <= now,
          raisedBefore: now - clearAfter,
        };
      }
    }
  }

  async #openOf(rule: AlertRule): Promise<AlertRecord[]> {
    const open = await this.#options.store.listAlerts({ status: "firing", limit: 1000 });
    return open.filter((alert) => alert.rule === rule.name);
  }

  /** Opens the alert unless open; notifies when it opened. Returns it when it opened. */
  async #fire(
    rule: AlertRule,
    subject: string,
    summary: string,
    details: Record<string, unknown>,
    how: { raise?: boolean } = {},
  ): Promise<AlertRecord | undefined> {
    const alert: NewAlert = {
      id: randomUUID(),
      rule: rule.name,
      subject,
      severity: rule.severity ?? "warning",
      summary,
      details,
      firedAt: this.#options.clock.now(),
    };
    const { alert: open, opened } = how.raise
      ? await this.#options.store.raiseAlert(alert)
      : await this.#options.store.openAlert(alert);
    if (!opened) return undefined;
    await this.#notify(rule, open, "firing");
    return open;
  }

  async #resolve(
    rule: AlertRule,
    subject: string,
    raisedBefore?: number,
  ): Promise<AlertRecord | undefined> {
    const resolved = await this.#options.store.resolveAlert(
      rule.name,
      subject,
      this.#options.clock.now(),
      ...(raisedBefore === undefined ? [] : [{ raisedBefore }]),
    );
    if (resolved) await this.#notify(rule, resolved, "resolved");
    return resolved;
  }

  /** Sends to the rule's sinks; returns how many accepted it. */
  async #notify(
    rule: AlertRule,
    alert: AlertRecord,
    state: "firing" | "resolved",
  ): Promise<number> {
    let sent = 0;
    for (const sink of this.#sinksOf(rule)) {
      const now = this.#options.clock.now();
      const record = (outcome: "sent" | "failed" | "suppressed", detail?: string) =>
        this.#options.store.recordNotification({
          alertId: alert.id,
          sink: sink.name,
          at: now,
          outcome,
          state,
          ...(detail ? { detail } : {}),
        });
      if (!this.#withinRate(sink, now)) {
        await record("suppressed", `over ${sink.maxPerMinute ?? 20} messages a minute`);
        continue;
      }
      try {
        const secret =
          sink.secret === undefined
            ? undefined
            : Redacted.reveal(await this.#secrets.resolve(sink.secret)).toString("utf8");
        const answer = await this.#send(sinkRequest(sink, alert, state, secret, now));
        const accepted = sinkAccepted(answer.status, answer.body);
        await record(accepted.ok ? "sent" : "failed", accepted.detail);
        if (accepted.ok) sent += 1;
      } catch (error) {
        await record("failed", error instanceof Error ? error.message : String(error));
      }
    }
    return sent;
  }

  #sinksOf(rule: AlertRule): AlertSink[] {
    if (!rule.sinks) return [...this.#sinks.values()];
    return rule.sinks.flatMap((name) => {
      const sink = this.#sinks.get(name);
      return sink ? [sink] : [];
    });
  }

  #withinRate(sink: AlertSink, now: number): boolean {
    const recent = (this.#sentAt.get(sink.name) ?? []).filter((at) => at > now - 60_000);
    if (recent.length >= (sink.maxPerMinute ?? 20)) {
      this.#sentAt.set(sink.name, recent);
      return false;
    }
    recent.push(now);
    this.#sentAt.set(sink.name, recent);
    return true;
  }

  #track(work: Promise<unknown>): void {
    const next = this.#pending.then(() => work).catch((error) => this.#options.onError?.(error));
    this.#pending = next;
  }
}

async function sendWithUndici(
  sinkRequestValue: SinkRequest,
): Promise<{ status: number; body: string }> {
  const response = await request(sinkRequestValue.url, {
    method: "POST",
    headers: sinkRequestValue.headers,
    body: sinkRequestValue.body,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  return { status: response.statusCode, body: await response.body.text() };
}

/** The nodes holding each channel interface's breaker open or half-open, by `channel/interface`. */
function heldBreakers(
  reports: readonly BreakerReport[],
  channel: string | undefined,
): Map<string, { channel: string; interface: string; open: string[]; halfOpen: string[] }> {
  const held = new Map<
    string,
    { channel: string; interface: string; open: string[]; halfOpen: string[] }
  >();
  for (const report of reports) {
    if (channel && report.channel !== channel) continue;
    const subject = `${report.channel}/${report.interface}`;
    const entry = held.get(subject) ?? {
      channel: report.channel,
      interface: report.interface,
      open: [],
      halfOpen: [],
    };
    (report.state === "open" ? entry.open : entry.halfOpen).push(report.node);
    held.set(subject, entry);
  }
  for (const entry of held.values()) {
    entry.open.sort();
    entry.halfOpen.sort();
  }
  return held;
}

/** `open on node-a, node-b (probing on node-c)`. */
function describeNodes(nodes: { open: string[]; halfOpen: string[] }): string {
  const open = nodes.open.length > 0 ? `open on ${nodes.open.join(", ")}` : "";
  const probing = nodes.halfOpen.length > 0 ? `probing on ${nodes.halfOpen.join(", ")}` : "";
  if (open && probing) return `${open} (${probing})`;
  return open || `half-open, ${probing}`;
}

/** Totals per channel and subject of one signal over the buckets that overlap the window. */
function sumCounts(
  counts: AlertCount[],
  signal: AlertSignal,
  now: number,
  windowMs: number,
): { channel: string; subject: string; total: number; hits: number }[] {
  const sums = new Map<string, { channel: string; subject: string; total: number; hits: number }>();
  for (const count of counts) {
    if (count.signal !== signal || count.bucket + alertBucketMs <= now - windowMs) continue;
    const key = `${count.channel}\u0000${count.subject}`;
    const sum = sums.get(key) ?? {
      channel: count.channel,
      subject: count.subject,
      total: 0,
      hits: 0,
    };
    sum.total += count.total;
    sum.hits += count.hits;
    sums.set(key, sum);
  }
  return [...sums.values()];
}
