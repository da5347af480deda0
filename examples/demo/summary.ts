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
  readonly clockSpanMs: number;
  readonly realMs: number;
  readonly target: string;
}

const caseKey = (channel: string, behavior: string, key: string) =>
  `${channel}\u0000${behavior}\u0000${key}`;

/** What a run's check found. */
export interface RunCheck {
  /**
   * Broken money rules: a non-idempotent money call that reached its funder more than once for one
   * business record, an instance moved back out of a settled status, a late notification that
   * contradicts how its instance settled. Each one is a real fault, whatever the machine's speed.
   */
  readonly violations: string[];
  /** Other differences from the scenario: a wrong final status, a money call never sent … */
  readonly differences: string[];
  /** Cases whose instance had not settled when the run stopped waiting (never when finished). */
  readonly stillRunning: ScenarioCase[];
}

/**
 * Checks the run against the money rules and the scenario. `finished: false` (the run stopped
 * waiting before everything settled) reports the unsettled cases as still running, not as
 * differences, and checks the money rules on what happened so far.
 *
 * - each non-idempotent money call (disbursement, repayment order) reached its funder at most once
 *   per business record (a violation otherwise), and exactly once when the record got that far;
 * - no instance moved back out of a settled status, and no late notification contradicts one;
 * - every case ended in its expected status;
 * - every instance is settled, or waiting for a reason (a due time or a recorded error).
 */
export function checkRun(
  run: DemoRun,
  options: { finished: boolean } = { finished: true },
): RunCheck {
  const violations: string[] = [];
  const differences: string[] = [];
  const stillRunning: ScenarioCase[] = [];
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
    const running =
      instance === undefined || (!isSettled(instance.status) && instance.nextRunAt !== null);
    if (!options.finished && running) stillRunning.push(scenarioCase);
    if (instance === undefined) {
      if (options.finished) differences.push(`${label}: no instance`);
      continue;
    }
    if (instance.status !== scenarioCase.expected && (options.finished || !running)) {
      const error = instance.lastError
        ? `, last error ${instance.lastError.code}: ${instance.lastError.message}`
        : "";
      differences.push(
        `${label}: expected ${scenarioCase.expected}, got ${instance.status} at step ${instance.step}${error}`,
      );
    }
    if (!isSettled(instance.status) && instance.nextRunAt === null && instance.lastError == null) {
      differences.push(`${label}: ${instance.status} with nothing due and no error recorded`);
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
    if (calls.length > 1) {
      violations.push(
        `${label}: the funder received ${calls.length} ${scenarioCase.behavior} orders for one business record`,
      );
    } else if (calls.length !== expectedCalls && !(running && !options.finished)) {
      differences.push(
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
      violations.push(
        `instance ${log.instance_id}: moved from ${settledAt} to ${log.to_status} (version ${log.version})`,
      );
    }
    if (log.to_status !== null && settledStatuses.includes(log.to_status as never)) {
      settledAt = log.to_status;
    }
  }
  // The mock funders never change their mind: a late word contradicting a settled instance means
  // the engine settled it wrongly.
  const { conflicts, failed } = run.callbacks.late;
  if (conflicts > 0) {
    violations.push(`${conflicts} late notifications contradict how their instance settled`);
  }
  for (const error of run.workerErrors) {
    differences.push(`worker error: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (run.events.rejected > 0) {
    differences.push(
      `${run.events.rejected} callbacks were rejected (verification or parsing failed)`,
    );
  }
  if (failed > 0) differences.push(`${failed} inbox entries could not be swept`);
  return { violations, differences, stillRunning };
}

/** The summary table printed at the end of `pnpm start`. */
export function formatSummary(run: DemoRun, check: RunCheck): string {
  const { violations, differences, stillRunning } = check;
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
    `${run.instances.length} instances in ${(run.realMs / 1000).toFixed(1)} s on ${run.target}; ${formatClockSpan(run.clockSpanMs)} of funder time, moved on whenever the system was quiet`,
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
      "money rules",
      violations.length === 0
        ? `ok: no disbursement or repayment sent twice (${moneyOrders} in the scenario) · no backwards moves · no late notification contradicting a settled instance`
        : `${violations.length} BROKEN (below)`,
    ],
    [
      "scenario",
      stillRunning.length > 0
        ? `${stillRunning.length} business records still running when the run stopped waiting${differences.length > 0 ? `; ${differences.length} differences (below)` : ""}`
        : differences.length === 0
          ? "every instance settled as expected"
          : `${differences.length} differences (below)`,
    ],
  ];
  const width = Math.max(...stats.map(([name]) => name.length));
  for (const [name, value] of stats) lines.push(`${name.padEnd(width)}  ${value}`);
  lines.push("");
  const list = (title: string, items: readonly string[]) => {
    if (items.length === 0) return;
    lines.push(title);
    for (const item of items.slice(0, 50)) lines.push(`  - ${item}`);
    if (items.length > 50) lines.push(`  … and ${items.length - 50} more`);
    lines.push("");
  };
  list(`${violations.length} money-rule violations:`, violations);
  list(`${differences.length} differences from the scenario:`, differences);
  list(
    `${stillRunning.length} business records still running:`,
    stillRunning.map(
      (scenarioCase) =>
        `${scenarioCase.channel}/${scenarioCase.behavior} ${scenarioCase.key} (${scenarioCase.kind})`,
    ),
  );
  return `${lines.join("\n")}\n`;
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
