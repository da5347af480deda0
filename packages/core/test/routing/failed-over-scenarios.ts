import { expect, test } from "vitest";
import type { BehaviorDefinition } from "../../src/definition/types.ts";
import { failoverSuccession, previewFailedOver } from "../../src/engine/failover-successor.ts";
import { previewOperatorAction } from "../../src/engine/operator-action-preview.ts";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import type { InstanceRecord, InstanceStore } from "../../src/ports/instance-store.ts";
import { product } from "./fixtures.ts";
import { funder, type RoutingWorld, routingWorld } from "./routing-scenarios.ts";

const alice = { who: "ops:alice", why: "the credit check looked wrong" };

/** A loan that checks credit first (no money moves); a declined check fails over. */
function checkedLoan(channel: string): BehaviorDefinition {
  return {
    channel,
    code: "loan",
    initial: "check",
    steps: {
      check: {
        kind: "call",
        interface: "credit.apply",
        request: { format: "json", body: { no: "{{input.loanNo}}" } },
        routes: [
          { when: 'outcome == "succeeded"', to: "apply" },
          { when: 'outcome == "failed"', to: "declined" },
        ],
        otherwise: "review",
      },
      apply: {
        kind: "call",
        interface: "loan.apply",
        movesMoney: true,
        request: { format: "json", body: { no: "{{input.loanNo}}" } },
        routes: [
          { when: 'outcome == "succeeded"', to: "disbursed" },
          { when: 'outcome == "failed"', to: "failed" },
        ],
        otherwise: "review",
      },
      disbursed: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
      declined: { kind: "terminal", outcome: "failed", failover: true },
      review: { kind: "terminal", outcome: "manual" },
    },
  };
}

/**
 * L-1 is declined by lanbank and meadow and disbursed by jade: a chain of three instances. The
 * funders then approve anything, so whatever ran again would disburse a second time.
 */
async function failedOverTwice(store: InstanceStore) {
  const declines = new Set(["lanbank", "meadow"]);
  const world = loanWorld(store, declines);
  await world.engine.start({
    product: "cash-loan",
    businessKey: "L-1",
    input: { loanNo: "L-1", amount: "100.00" },
  });
  await world.runAll();
  declines.clear();
  const [first, second, third] = await store.listInstances({
    product: "cash-loan",
    businessKey: "L-1",
  });
  return { world, first: first!, second: second!, third: third! };
}

/** Lanbank, meadow and jade, each checking credit before a loan; `declines` decline the check. */
function loanWorld(store: InstanceStore, declines: Set<string>): RoutingWorld {
  return routingWorld(
    store,
    {
      channels: [funder("lanbank"), funder("meadow"), funder("jade")],
      behaviors: [checkedLoan("lanbank"), checkedLoan("meadow"), checkedLoan("jade")],
      products: [
        product(
          [
            { channel: "lanbank", behavior: "loan", weight: 100, quotas: { daily: { count: 5 } } },
            { channel: "meadow", behavior: "loan", weight: 10 },
            { channel: "jade", behavior: "loan", weight: 1 },
          ],
          { failover: {} },
        ),
      ],
    },
    {
      lanbank: (path) => (path === "/credit" && declines.has("lanbank") ? "1" : "0"),
      meadow: (path) => (path === "/credit" && declines.has("meadow") ? "1" : "0"),
      jade: (path) => (path === "/credit" && declines.has("jade") ? "1" : "0"),
    },
  );
}

async function refusal(action: Promise<unknown>): Promise<CapflowError> {
  const error = await action.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isCapflowError(error, "INSTANCE_FAILED_OVER")).toBe(true);
  return error as CapflowError;
}

async function unchanged(world: RoutingWorld, record: InstanceRecord, run: () => Promise<void>) {
  const history = await world.store.history(record.id);
  const holds = await world.store.quotaHolds(record.id);
  await run();
  await world.runAll();
  expect(await world.store.getInstance(record.id)).toEqual(record);
  expect(await world.store.history(record.id)).toEqual(history);
  expect(await world.store.quotaHolds(record.id)).toEqual(holds);
}

/**
 * An instance that failed over is neither moved nor retried by an operator: its business goes on
 * at its successor. Run by core's tests on the memory store and by store-knex's on PostgreSQL.
 */
export function failedOverScenarios(open: () => Promise<InstanceStore>): void {
  test("a move of an instance that failed over is refused, naming where the business went", async () => {
    const { world, first, second, third } = await failedOverTwice(await open());
    expect([first, second, third].map((i) => [i.channel, i.status, i.step])).toEqual([
      ["lanbank", "failed", "declined"],
      ["meadow", "failed", "declined"],
      ["jade", "succeeded", "disbursed"],
    ]);
    expect([second.failoverOf, third.failoverOf]).toEqual([first.id, second.id]);
    const loans = () => world.transport.sent.filter((s) => s.path === "/loan").length;
    expect(loans()).toBe(1);

    await unchanged(world, first, async () => {
      const error = await refusal(world.engine.moveTo(first.id, "check", alice));
      expect(error.message).toBe(
        `instance ${first.id} failed over to ${second.id} (which failed over to ${third.id}): its business goes on there, and a move would run this one again beside it; act on ${third.id} instead`,
      );
      expect(error.context).toMatchObject({
        instance: first.id,
        successor: second.id,
        current: third.id,
      });
      // To a settled step too: the business's settlement is the successor's to report.
      await refusal(world.engine.moveTo(first.id, "disbursed", alice));
      await refusal(world.engine.moveTo(first.id, "check", alice, { callNotProcessed: true }));
    });
    await unchanged(world, second, async () => {
      const error = await refusal(world.engine.moveTo(second.id, "apply", alice));
      expect(error.message).toContain(`failed over to ${third.id}: its business`);
      expect(error.message).toContain(`act on ${third.id} instead`);
    });
    // Nothing ran again: one disbursement, and lanbank's check was asked once.
    expect(loans()).toBe(1);
    expect(world.transport.sent.filter((s) => s.channel.startsWith("lanbank"))).toHaveLength(1);

    // The instance where the business lives is moved as before.
    const moved = await world.engine.moveTo(third.id, "review", alice);
    expect(moved).toMatchObject({ step: "review", status: "manual" });
  });

  test("a retry is refused too; a failed-over instance that runs anyway can be cancelled", async () => {
    const { world, first, second, third } = await failedOverTwice(await open());
    await unchanged(world, first, async () => {
      const error = await refusal(world.engine.retryNow(first.id, alice));
      expect(error.message).toContain(`act on ${third.id} instead`);
    });
    // Running again as if reopened without this rule: still no retry, but a cancel stops it.
    const running = await world.store.commitTransition({
      instanceId: second.id,
      expectedVersion: second.version,
      now: world.clock.now(),
      changes: { status: "active", nextRunAt: world.clock.now() + 3_600_000 },
      log: { step: second.step, attempt: 0, event: "operator", startedAt: 0, durationMs: 0 },
    });
    await refusal(world.engine.retryNow(second.id, alice));
    const cancelled = await world.engine.cancel(second.id, alice);
    expect(cancelled).toMatchObject({ id: running.id, status: "cancelled" });
  });

  test("a failover committed while the operator's move was being decided is seen: the move is refused", async () => {
    const store = await open();
    let failOverFirst: (() => Promise<void>) | undefined;
    // The operator's first look at the business finds no successor; before it commits, a worker
    // runs the declined check and fails over (the move's compare-and-set then loses).
    const racing = new Proxy(store, {
      get(target, property) {
        if (property !== "listInstances") {
          const value = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return async (filter: Parameters<InstanceStore["listInstances"]>[0]) => {
          const listed = await target.listInstances(filter);
          const run = failOverFirst;
          failOverFirst = undefined;
          await run?.();
          return listed;
        };
      },
    });
    const world = loanWorld(racing, new Set(["lanbank"]));
    const first = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-2",
      input: { loanNo: "L-2", amount: "100.00" },
    });
    expect(first).toMatchObject({ channel: "lanbank", step: "check", status: "active" });
    failOverFirst = async () => {
      await world.engine.runDue({ limit: 1 });
    };
    const error = await refusal(world.engine.moveTo(first.id, "check", alice));
    const [declined, next] = await store.listInstances({
      product: "cash-loan",
      businessKey: "L-2",
    });
    expect(declined).toMatchObject({ id: first.id, status: "failed", step: "declined" });
    expect(next).toMatchObject({ channel: "meadow", failoverOf: first.id });
    expect(error.message).toContain(`act on ${next!.id} instead`);
  });

  test("the preview of a move or retry of an instance that failed over is not allowed, saying why", async () => {
    const { world, first, second, third } = await failedOverTwice(await open());
    const behavior = checkedLoan("lanbank");
    const now = world.clock.now();
    const succession = await failoverSuccession(world.store, first);
    expect(succession).toEqual({ successor: second.id, current: third.id });
    expect(await failoverSuccession(world.store, third)).toBeUndefined();

    const move = previewFailedOver(
      previewOperatorAction(first, behavior, "move", now, "check"),
      first,
      succession,
    );
    expect(move.allowed).toBe(false);
    expect(move.refusal).toEqual({
      code: "INSTANCE_FAILED_OVER",
      message: move.warnings.at(-1),
    });
    expect(move.warnings).toContain(
      `instance ${first.id} failed over to ${second.id} (which failed over to ${third.id}): its business goes on there, and a move would run this one again beside it; act on ${third.id} instead`,
    );
    const retry = previewFailedOver(
      previewOperatorAction(first, behavior, "retry", now),
      first,
      succession,
    );
    expect(retry.allowed).toBe(false);
    expect(retry.warnings.at(-1)).toContain("a retry would run this one again");
    // Nothing to add where the business lives, nor to a cancel.
    const live = previewOperatorAction(third, behavior, "move", now, "review");
    expect(previewFailedOver(live, third, undefined)).toEqual(live);
    const cancel = previewOperatorAction(first, behavior, "cancel", now);
    expect(previewFailedOver(cancel, first, succession)).toEqual(cancel);
  });
}
