import type { StepDefinition } from "../definition/types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import type { InstanceChanges, InstanceRecord } from "../ports/instance-store.ts";
import { isSettled } from "../ports/instance-store.ts";
import type { MachineSnapshot } from "./behavior-machine.ts";
import type { EngineCore } from "./engine-core.ts";
import { entrySchedule } from "./entry-schedule.ts";
import type { Actor } from "./operator-actions.ts";
import { callStepsOf, nonIdempotentCallStep } from "./resend-on-move.ts";
import type { BehaviorRuntime, RuntimeCache } from "./runtime-cache.ts";
import { unresolvedCallOf } from "./unresolved-call.ts";

/** Which instances to move, where, and how. */
export interface MigrationRequest {
  channel: string;
  behavior: string;
  /** The version the instances are pinned to now. */
  from: number;
  /** The version to pin them to (older versions too: a rollback is a migration). */
  to: number;
  /** Step of `from` -> step of `to`, for steps the target lacks or that should change. */
  map?: Record<string, string>;
  /** Parked instances (nothing scheduled, an error recorded) become due at once once moved. */
  retryParked?: boolean;
  /** List what would move and what would be refused, and move nothing. */
  dryRun?: boolean;
}

export interface MigrationOptions {
  /** Ends the run after the instances in hand; run it again to go on (nothing moves twice). */
  signal?: AbortSignal;
  /** After each page of instances, with the report so far. */
  onProgress?: (report: MigrationReport) => void;
  /** Instances read per page. Default 200. */
  pageSize?: number;
  /** Moves committed at once. Default 8. */
  concurrency?: number;
}

/** How an instance moves: on with its step (`continue`) or into its new step afresh (`reenter`). */
export type MoveKind = "continue" | "reenter";

export type RefusalReason = "running" | "step-missing" | "in-flight";

/** A group of instances moved (or, in a dry run, that would move) the same way. */
export interface MigrationMove {
  fromStep: string;
  toStep: string;
  how: MoveKind;
  count: number;
  examples: { id: string; businessKey: string }[];
}

/** A group of instances refused for the same reason at the same step. */
export interface MigrationRefusal {
  step: string;
  reason: RefusalReason;
  /** What to do about them. */
  message: string;
  count: number;
  examples: { id: string; businessKey: string }[];
}

export interface MigrationReport {
  channel: string;
  behavior: string;
  from: number;
  to: number;
  dryRun: boolean;
  moved: number;
  refused: number;
  moves: MigrationMove[];
  refusals: MigrationRefusal[];
  /** The run ended early (the signal): run it again to move the rest. */
  interrupted: boolean;
}

const examplesPerGroup = 5;
/** How often one instance's move is re-planned when a worker commits in between. */
const maxMoveRetries = 5;

/**
 * Moves the unsettled instances of one behavior version to another (see `Engine.migrateInstances`).
 * Each move is its own compare-and-set with a history row naming the operator and the reason, so
 * a run stopped anywhere (signal, crash, lost connection) is resumed by running it again: moved
 * instances are pinned to `to` and no longer match, the others are still at `from`.
 */
export async function migrateInstances(
  core: EngineCore,
  runtime: RuntimeCache,
  request: MigrationRequest,
  actor: Actor | undefined,
  options: MigrationOptions = {},
): Promise<MigrationReport> {
  const dryRun = request.dryRun === true;
  if (!dryRun && (actor === undefined || !actor.who || !actor.why)) {
    throw new CapflowError(
      "CONFIG_INVALID",
      "a migration is recorded in every instance's history: say who moves them and why",
    );
  }
  const plan = await planMigration(runtime, request);
  const report: MigrationReport = {
    channel: request.channel,
    behavior: request.behavior,
    from: request.from,
    to: request.to,
    dryRun,
    moved: 0,
    refused: 0,
    moves: [],
    refusals: [],
    interrupted: false,
  };
  const tally = new Tally(report);
  const pageSize = options.pageSize ?? 200;
  const concurrency = options.concurrency ?? 8;
  let after: { createdAt: number; id: string } | undefined;
  for (;;) {
    if (options.signal?.aborted) {
      report.interrupted = true;
      break;
    }
    const page = await core.store.listInstances({
      channel: request.channel,
      behavior: request.behavior,
      behaviorVersion: request.from,
      status: ["active", "waiting"],
      limit: pageSize,
      ...(after ? { after } : {}),
    });
    if (page.length === 0) break;
    const last = page.at(-1)!;
    after = { createdAt: last.createdAt, id: last.id };
    for (let i = 0; i < page.length; i += concurrency) {
      const slice = page.slice(i, i + concurrency);
      await Promise.all(slice.map((record) => moveOne(core, plan, record, actor, dryRun, tally)));
    }
    options.onProgress?.(structuredClone(report));
    if (page.length < pageSize) break;
  }
  return report;
}

interface MigrationPlan {
  request: MigrationRequest;
  source: BehaviorRuntime;
  target: BehaviorRuntime;
  map: Record<string, string>;
  /** Steps of the target a move may not enter afresh without reading the history (see `moveOne`). */
  guardedCalls: ReadonlySet<string>;
}

async function planMigration(
  runtime: RuntimeCache,
  request: MigrationRequest,
): Promise<MigrationPlan> {
  const name = `${request.channel}/${request.behavior}`;
  if (request.from === request.to) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${name}: --from and --to are both version ${request.from}; name the version to move to`,
    );
  }
  const [source, target, channel] = await Promise.all([
    runtime.behavior(request.channel, request.behavior, request.from),
    runtime.behavior(request.channel, request.behavior, request.to),
    runtime.channelDefinition(request.channel),
  ]);
  const map = { ...request.map };
  for (const [from, to] of Object.entries(map)) {
    if (!Object.hasOwn(source.definition.steps, from)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${name} version ${request.from} has no step "${from}" to map; its steps: ${Object.keys(source.definition.steps).join(", ")}`,
      );
    }
    if (!Object.hasOwn(target.definition.steps, to)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${name} version ${request.to} has no step "${to}" to map "${from}" to; its steps: ${Object.keys(target.definition.steps).join(", ")}`,
      );
    }
    if (target.definition.steps[to]!.kind === "terminal") {
      throw new CapflowError(
        "CONFIG_INVALID",
        `"${to}" is a terminal step of ${name} version ${request.to}: a migration moves instances on, it does not settle them (use capflow instances move for that)`,
      );
    }
  }
  const guardedCalls = new Set(
    Object.keys(target.definition.steps).filter(
      (step) => nonIdempotentCallStep(step, target.definition, channel) !== undefined,
    ),
  );
  return { request, source, target, map, guardedCalls };
}

/** What happens to one instance: a move and its changes, or a refusal. */
type Decision =
  | { kind: "move"; how: MoveKind; toStep: string; changes: InstanceChanges }
  | { kind: "refuse"; reason: RefusalReason; message: string };

/** Decides one instance's move from its current record. Pure. */
export function decideMove(
  plan: Pick<MigrationPlan, "source" | "target" | "map"> & {
    request: Pick<MigrationRequest, "to" | "retryParked">;
  },
  record: InstanceRecord,
  now: number,
): Decision {
  if (record.leaseUntil !== null && record.leaseUntil > now) {
    return {
      kind: "refuse",
      reason: "running",
      message:
        "a worker is running it right now; run the migration again once its step has committed",
    };
  }
  const toStep = plan.map[record.step] ?? record.step;
  const target = plan.target.definition.steps[toStep];
  if (target === undefined || target.kind === "terminal") {
    return {
      kind: "refuse",
      reason: "step-missing",
      message: `version ${plan.request.to} has no step "${toStep}"${target === undefined ? "" : " to go on with (it is terminal)"}: map it with --map ${record.step}=<step>`,
    };
  }
  const current = plan.source.definition.steps[record.step];
  const continues = current !== undefined && sameWork(current, target);
  if (record.inFlight !== null && !continues) {
    return {
      kind: "refuse",
      reason: "in-flight",
      message: `call attempt ${record.inFlight.attempt} (serial ${record.inFlight.serial}) may have reached the partner: it stays with its step until its outcome is known; map "${record.step}" to a step calling the same interface, or settle it first`,
    };
  }
  const snapshot = record.snapshot as MachineSnapshot;
  const visits = renamedVisits(snapshot.context?.visits ?? {}, plan.map);
  const parkedToResume =
    plan.request.retryParked === true && record.nextRunAt === null && record.lastError !== null;
  if (continues) {
    return {
      kind: "move",
      how: "continue",
      toStep,
      changes: {
        behaviorVersion: plan.request.to,
        step: toStep,
        snapshot: {
          value: toStep,
          context: { visits, enteredAt: snapshot.context?.enteredAt ?? now },
        },
        ...(record.inFlight !== null && toStep !== record.step
          ? { inFlight: { ...record.inFlight, step: toStep } }
          : {}),
        ...(parkedToResume ? { nextRunAt: now } : {}),
      },
    };
  }
  const schedule = entrySchedule(target, now);
  return {
    kind: "move",
    how: "reenter",
    toStep,
    changes: {
      behaviorVersion: plan.request.to,
      step: toStep,
      snapshot: {
        value: toStep,
        context: { visits: { ...visits, [toStep]: (visits[toStep] ?? 0) + 1 }, enteredAt: now },
      },
      status: schedule.status,
      nextRunAt: schedule.nextRunAt,
      waitingFor: schedule.waitingFor,
      attempt: 0,
      inFlight: null,
      lastError: null,
    },
  };
}

/** Whether an instance at `from` may go on at `to` as it is: the same wait or the same call. */
function sameWork(from: StepDefinition, to: StepDefinition): boolean {
  if (from.kind !== to.kind) return false;
  switch (from.kind) {
    case "call":
    case "poll":
      return from.interface === (to as typeof from).interface;
    case "callback":
      return from.callback === (to as typeof from).callback;
    default:
      return true;
  }
}

function renamedVisits(
  visits: Record<string, number>,
  map: Record<string, string>,
): Record<string, number> {
  const renamed: Record<string, number> = {};
  for (const [step, count] of Object.entries(visits)) {
    const to = map[step] ?? step;
    renamed[to] = Math.max(renamed[to] ?? 0, count);
  }
  return renamed;
}

async function moveOne(
  core: EngineCore,
  plan: MigrationPlan,
  listed: InstanceRecord,
  actor: Actor | undefined,
  dryRun: boolean,
  tally: Tally,
): Promise<void> {
  let record: InstanceRecord | undefined = listed;
  for (let attempt = 0; ; attempt++) {
    const now = core.clock.now();
    const decided = decideMove(plan, record, now);
    const decision =
      decided.kind === "move" && decided.how === "reenter" && plan.guardedCalls.has(decided.toStep)
        ? ((await unsettledResend(core, plan, record, decided.toStep)) ?? decided)
        : decided;
    if (decision.kind === "refuse") {
      tally.refuse(record, decision);
      return;
    }
    if (dryRun) {
      tally.move(record, decision);
      return;
    }
    try {
      await core.store.commitTransition({
        instanceId: record.id,
        expectedVersion: record.version,
        now,
        changes: decision.changes,
        log: {
          step: record.step,
          attempt: record.attempt,
          event: "operator",
          outcome: `migrate:${plan.request.from}->${plan.request.to}`,
          fromStep: record.step,
          toStep: decision.toStep,
          fromStatus: record.status,
          ...(decision.changes.status ? { toStatus: decision.changes.status } : {}),
          actor: actor!,
          startedAt: now,
          durationMs: 0,
        },
      });
      tally.move(record, decision);
      return;
    } catch (error) {
      if (!isCapflowError(error, "STORE_CONFLICT") || attempt >= maxMoveRetries) throw error;
      // A worker (or another migration) committed in between: decide again on the new state.
      record = await core.store.getInstance(listed.id);
      if (
        record === undefined ||
        isSettled(record.status) ||
        record.behaviorVersion !== plan.request.from
      ) {
        return;
      }
    }
  }
}

/**
 * A refusal when entering `toStep` afresh would send again a call whose last attempt's outcome no
 * answer settled (the in-flight mark gone: the instance polls its query, or an operator moved it):
 * the new step sends a new attempt with a new serial, as an operator's move back to the call would
 * (`unsafeResendOnMove`). What counts is the interface `toStep` calls, not its name: the history
 * names each attempt by the step that sent it in the version it ran under, so the steps looked up
 * are the target step's own code, the source steps mapped to it, every call step of the source
 * version calling the same interface (`apply` renamed `submit` by the target) and every step the
 * history records calling it (a version before the source).
 */
async function unsettledResend(
  core: EngineCore,
  plan: MigrationPlan,
  record: InstanceRecord,
  toStep: string,
): Promise<Extract<Decision, { kind: "refuse" }> | undefined> {
  const target = plan.target.definition.steps[toStep];
  if (target?.kind !== "call") return undefined;
  const history = await core.store.history(record.id);
  const sources = [
    toStep,
    ...Object.keys(plan.map).filter((from) => plan.map[from] === toStep),
    ...callStepsOf(plan.source.definition, target.interface),
  ];
  const unresolved = unresolvedCallOf(history, target.interface, sources, record.version);
  if (unresolved === undefined) return undefined;
  const sent =
    unresolved.step === toStep
      ? `step "${toStep}"`
      : `step "${unresolved.step}" (${target.interface}, which "${toStep}" calls)`;
  return {
    kind: "refuse",
    reason: "in-flight",
    message: `call attempt ${unresolved.attempt} of ${sent} (serial ${unresolved.serial}) had an unknown outcome no answer settled, and entering "${toStep}" would send it again: map "${record.step}" to a step that does not send it, or settle it first`,
  };
}

/** Counts moves and refusals into the report, grouped, with a few examples each. */
class Tally {
  constructor(private readonly report: MigrationReport) {}

  move(record: InstanceRecord, decision: Extract<Decision, { kind: "move" }>): void {
    this.report.moved++;
    let group = this.report.moves.find(
      (m) => m.fromStep === record.step && m.toStep === decision.toStep && m.how === decision.how,
    );
    if (group === undefined) {
      group = {
        fromStep: record.step,
        toStep: decision.toStep,
        how: decision.how,
        count: 0,
        examples: [],
      };
      this.report.moves.push(group);
    }
    add(group, record);
  }

  refuse(record: InstanceRecord, decision: Extract<Decision, { kind: "refuse" }>): void {
    this.report.refused++;
    let group = this.report.refusals.find(
      (r) => r.step === record.step && r.reason === decision.reason,
    );
    if (group === undefined) {
      group = {
        step: record.step,
        reason: decision.reason,
        message: decision.message,
        count: 0,
        examples: [],
      };
      this.report.refusals.push(group);
    }
    add(group, record);
  }
}

function add(
  group: { count: number; examples: { id: string; businessKey: string }[] },
  record: InstanceRecord,
) {
  group.count++;
  if (group.examples.length < examplesPerGroup) {
    group.examples.push({ id: record.id, businessKey: record.businessKey });
  }
}
