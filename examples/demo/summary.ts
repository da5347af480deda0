import {
  type InstanceRecord,
  isSettled,
  type SweepInboxResult,
  settledStatuses,
} from "@capflow/core";
import type { MockFunder } from "@capflow/testkit";
import type { FunderProfile } from "./mock-funders.ts";
import { formatClockSpan } from "./progress.ts";
import type { ScenarioCase } from "./scenario.ts";

/** One row of the step log, as the summary reads it. */
export interface StepLogRow {
  instance_id: string;
  version: number;
  event: string;
  outcome: string | null;
  from_status: string | null;
  to_status: string | null;
  duration_ms: number;
}

/** Everything a demo run produced, for the checks and the summary. */
export interface DemoRun {
  readonly cases: readonly ScenarioCase[];
  readonly funders: readonly FunderProfile[];
  readonly instances: readonly InstanceRecord[];
  readonly logs: readonly StepLogRow[];
  readonly mocks: ReadonlyMap<string, MockFunder>;
  readonly events: {
    callbacks: number;
    duplicates: number;
    rejected: number;
    ownershipLost: number;
  };
  /**
   * Callback deliveries received over HTTP, stored in the inbox, applied by an instance's step,
   * and what the final inbox sweep did with those that came after their instance settled.
   */
  readonly callbacks: {
    received: number;
    stored: number;
    applied: number;
    late: SweepInboxResult;
  };
  readonly workerErrors: readonly unknown[];
  readonly speed: number;
  readonly clockSpanMs: number;
  readonly skippedMs: number;
  readonly realMs: number;
  readonly target: string;
}

const caseKey = (channel: string, behavior: string, key: string) =>
  `${channel}\u0000${behavior}\u0000${key}`;

/**
 * Checks the run against the scenario and the money rules. Returns one line per difference; an
 * empty list means the run is correct.
 *
 * - every case ended in its expected status;
 * - each non-idempotent money call (disbursement, repayment order) reached its funder at most once
 *   per business record, and exactly once when the record got that far;
 * - no instance moved back out of a settled status, and no late notification contradicts one;
 * - every instance is settled, or waiting for a reason (a due time or a recorded error).
 */
export function checkRun(run: DemoRun): string[] {
  const problems: string[] = [];
  const byKey = new Map(
    run.instances.map((instance) => [
      caseKey(instance.channel, instance.behavior, instance.businessKey),
      instance,
    ]),
  );
  for (const scenarioCase of run.cases) {
    const instance = byKey.get(
      caseKey(scenarioCase.channel, scenarioCase.behavior, scenarioCase.key),
    );
    const label = `${scenarioCase.channel}/${scenarioCase.behavior} ${scenarioCase.key} (${scenarioCase.kind})`;
    if (instance === undefined) {
      problems.push(`${label}: no instance`);
      continue;
    }
    if (instance.status !== scenarioCase.expected) {
      const error = instance.lastError
        ? `, last error ${instance.lastError.code}: ${instance.lastError.message}`
        : "";
      problems.push(
        `${label}: expected ${scenarioCase.expected}, got ${instance.status} at step ${instance.step}${error}`,
      );
    }
    if (!isSettled(instance.status) && instance.nextRunAt === null && instance.lastError == null) {
      problems.push(`${label}: ${instance.status} with nothing due and no error recorded`);
    }

    // One money-moving request per business record.
    const funder = run.funders.find((candidate) => candidate.channel === scenarioCase.channel);
    const isMoneyCall = funder?.moneyCalls[scenarioCase.behavior];
    const mock = run.mocks.get(scenarioCase.channel);
    if (isMoneyCall === undefined || mock === undefined) continue;
    const calls = mock
      .requests({ businessKey: scenarioCase.key })
      .filter((request) => isMoneyCall(request));
    const expectedCalls = scenarioCase.plan.nothingDue ? 0 : 1;
    if (calls.length !== expectedCalls) {
      problems.push(
        `${label}: the funder received ${calls.length} ${scenarioCase.behavior} orders, expected ${expectedCalls}`,
      );
    }
  }

  // No backwards moves: once a log entry settles an instance, nothing moves it again.
  let settledAt: string | undefined;
  let current = "";
  for (const log of run.logs) {
    if (log.instance_id !== current) {
      current = log.instance_id;
      settledAt = undefined;
    }
    if (settledAt !== undefined && log.event !== "operator" && log.to_status !== settledAt) {
      problems.push(
        `instance ${log.instance_id}: moved from ${settledAt} to ${log.to_status} (version ${log.version})`,
      );
    }
    if (log.to_status !== null && settledStatuses.includes(log.to_status as never)) {
      settledAt = log.to_status;
    }
  }
  for (const error of run.workerErrors) {
    problems.push(`worker error: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (run.events.rejected > 0) {
    problems.push(
      `${run.events.rejected} callbacks were rejected (verification or parsing failed)`,
    );
  }
  // The mock funders never change their mind: a late word contradicting a settled instance means
  // the engine settled it wrongly.
  const { conflicts, failed } = run.callbacks.late;
  if (conflicts > 0) {
    problems.push(`${conflicts} late notifications contradict how their instance settled`);
  }
  if (failed > 0) problems.push(`${failed} inbox entries could not be swept`);
  return problems;
}

/** The summary table printed at the end of `pnpm start`. */
export function formatSummary(run: DemoRun, problems: readonly string[]): string {
  const lines: string[] = [];
  const statuses = ["succeeded", "failed", "manual", "cancelled"] as const;
  const expectedOf = new Map(
    run.cases.map((scenarioCase) => [
      caseKey(scenarioCase.channel, scenarioCase.behavior, scenarioCase.key),
      scenarioCase,
    ]),
  );

  lines.push("");
  lines.push(
    `${run.instances.length} instances in ${(run.realMs / 1000).toFixed(1)} s on ${run.target}; demo clock ×${run.speed}, ${formatClockSpan(run.clockSpanMs)} of funder time (${formatClockSpan(run.skippedMs)} skipped while idle)`,
  );
  lines.push("");

  // Instances per channel/behavior and outcome.
  const header = ["channel/behavior", "instances", ...statuses, "unsettled", "as expected"];
  const rows: string[][] = [];
  const groups = new Map<string, InstanceRecord[]>();
  for (const instance of run.instances) {
    const group = `${instance.channel}/${instance.behavior}`;
    groups.set(group, [...(groups.get(group) ?? []), instance]);
  }
  const rowFor = (name: string, instances: readonly InstanceRecord[]) => {
    const count = (test: (instance: InstanceRecord) => boolean) =>
      String(instances.filter(test).length);
    const asExpected = instances.filter(
      (instance) =>
        expectedOf.get(caseKey(instance.channel, instance.behavior, instance.businessKey))
          ?.expected === instance.status,
    ).length;
    return [
      name,
      String(instances.length),
      ...statuses.map((status) => count((instance) => instance.status === status)),
      count((instance) => !isSettled(instance.status)),
      `${asExpected}/${instances.length}`,
    ];
  };
  for (const [group, instances] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    rows.push(rowFor(group, instances));
  }
  rows.push(rowFor("total", run.instances));
  lines.push(...table(header, rows));
  lines.push("");

  // Instances per kind of case.
  const kinds = new Map<string, { count: number; expected: string; ok: number }>();
  const instanceOf = new Map(
    run.instances.map((instance) => [
      caseKey(instance.channel, instance.behavior, instance.businessKey),
      instance,
    ]),
  );
  for (const scenarioCase of run.cases) {
    const entry = kinds.get(scenarioCase.kind) ?? {
      count: 0,
      expected: scenarioCase.expected,
      ok: 0,
    };
    entry.count++;
    const instance = instanceOf.get(
      caseKey(scenarioCase.channel, scenarioCase.behavior, scenarioCase.key),
    );
    if (instance?.status === scenarioCase.expected) entry.ok++;
    kinds.set(scenarioCase.kind, entry);
  }
  lines.push(
    ...table(
      ["scenario case", "instances", "must end", "as expected"],
      [...kinds.entries()].map(([kind, entry]) => [
        kind,
        String(entry.count),
        entry.expected,
        `${entry.ok}/${entry.count}`,
      ]),
    ),
  );
  lines.push("");

  // Work done.
  // Not steps: intents recorded before a send, operators' actions, late notifications recorded.
  const steps = run.logs.filter(
    (log) =>
      log.event !== "intent" && log.event !== "operator" && !log.outcome?.startsWith("late:"),
  );
  const intents = run.logs.filter((log) => log.event === "intent").length;
  const durations = steps.map((log) => log.duration_ms / run.speed).sort((a, b) => a - b);
  const calls = [...run.mocks.entries()].map(([channel, mock]) => {
    const requests = mock.requests();
    return {
      channel,
      total: requests.length,
      faults: requests.filter((request) => request.fault !== undefined).length,
    };
  });
  const moneyOrders = run.cases.filter(
    (scenarioCase) =>
      run.funders.find((funder) => funder.channel === scenarioCase.channel)?.moneyCalls[
        scenarioCase.behavior
      ] !== undefined && !scenarioCase.plan.nothingDue,
  ).length;
  const duplicatesRefused = run.callbacks.received - run.callbacks.stored;
  const stats: [string, string][] = [
    [
      "steps executed",
      `${steps.length} (plus ${intents} intents recorded before non-idempotent sends)`,
    ],
    [
      "partner calls",
      `${calls.reduce((sum, entry) => sum + entry.total, 0)}: ${calls
        .map((entry) => `${entry.channel} ${entry.total}`)
        .join(
          " · ",
        )}; ${calls.reduce((sum, entry) => sum + entry.faults, 0)} with a fault injected`,
    ],
    [
      "callbacks",
      `${run.callbacks.received} received · ${run.callbacks.stored} stored · ${run.callbacks.applied} applied by a step · ${run.callbacks.late.recorded + run.callbacks.late.conflicts} after settlement, recorded (${run.callbacks.late.conflicts} contradicting) · ${duplicatesRefused} duplicates acknowledged and not applied again`,
    ],
    [
      "step latency",
      `p50 ${percentile(durations, 0.5).toFixed(1)} ms · p99 ${percentile(durations, 0.99).toFixed(1)} ms (real time, from the step logs)`,
    ],
    [
      "money rules",
      problems.length === 0
        ? `ok: ${moneyOrders} disbursements and repayments each sent once · no backwards moves · every instance settled as expected`
        : `${problems.length} problems (below)`,
    ],
  ];
  const width = Math.max(...stats.map(([name]) => name.length));
  for (const [name, value] of stats) lines.push(`${name.padEnd(width)}  ${value}`);
  lines.push("");
  if (problems.length > 0) {
    lines.push(`${problems.length} differences from the scenario:`);
    for (const problem of problems.slice(0, 50)) lines.push(`  - ${problem}`);
    if (problems.length > 50) lines.push(`  … and ${problems.length - 50} more`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const format = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [format(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(format)];
}
