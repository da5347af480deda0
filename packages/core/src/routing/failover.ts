import { checkStartInput } from "../engine/check-start-input.ts";
import type { EngineEvent } from "../engine/engine-events.ts";
import { emitStarted } from "../engine/start-instance.ts";
import type { StepRun } from "../engine/step-run.ts";
import { CapflowError, isCapflowError, toCapflowError } from "../errors.ts";
import type { InstanceRecord, Transition } from "../ports/instance-store.ts";
import { mayHaveMovedMoney } from "./quota-effect.ts";
import {
  accountOfQuota,
  allAccountsFull,
  channelCannotServe,
  markCandidate,
  planRoute,
  productChannels,
  type RoutingDeps,
  routedInstance,
} from "./route-product.ts";

/** Adds the upstream's notification of these events to a transition (see `withNotification`). */
export type Notify = (transition: Transition, events: readonly EngineEvent[]) => Transition;

/** A failover's commit: the instance's record, and what to emit once it is committed. */
export interface FailoverCommit {
  record: InstanceRecord;
  /** The events of the committed change, in place of the step's own (a parked failover). */
  events?: EngineEvent[];
  emit: () => Promise<void>;
}

/**
 * Commits a transition into a `failover` step together with the instance that carries the
 * business on to the product's next eligible channel: one commit ends this instance (releasing
 * its quotas) and creates the next one (reserving its own), so the business is never lost between
 * them nor started twice. The next instance links to this one (`failoverOf`); the product's
 * business key stays unique because only a first instance may lack that link.
 *
 * A channel that cannot take the business (its definition gone, no account serving the input,
 * its behavior's input schema refusing it) is left out like an ineligible one. When the failover
 * cannot be planned at all (the product is gone, or its amount expression fails on the input for
 * a business routed without an amount), or the business key is held on a channel of the product
 * by another start (one business, one loan: never a reason to go elsewhere), the instance is
 * parked at the failover step (`manual`, its error recorded, attention raised, its quota holds
 * kept as for any manual end) for an operator: the step before is never run again. The customer
 * and the amount are the ones the business was routed with at its start (`customerRef`,
 * `routing.amount`): an input accepted then is not judged again by an edited product.
 *
 * Returns undefined, committing nothing, when there is nothing to fail over to (not a product's
 * instance, a product without failover, no channel left with room): the caller then commits the
 * plain transition. Never after a money-moving call may have gone out, even for a definition the
 * validator never saw. `step` holds the step's events and how to notify the upstream of a parked
 * failover's.
 */
export async function commitWithFailover(
  deps: RoutingDeps,
  run: StepRun,
  to: string,
  transition: Transition,
  step: { events: readonly EngineEvent[]; notify: Notify },
): Promise<FailoverCommit | undefined> {
  const record = run.record;
  const target = run.behavior.definition.steps[to];
  if (record.product === null || target?.kind !== "terminal" || target.failover !== true) return;
  if (mayHaveMovedMoney(run.behavior.definition, record)) return;
  try {
    return await failOver(deps, run, record.product, transition);
  } catch (error) {
    if (!productFault(error)) throw error;
    return park(deps, run, transition, toCapflowError(error), step);
  }
}

async function failOver(
  deps: RoutingDeps,
  run: StepRun,
  productCode: string,
  transition: Transition,
): Promise<FailoverCommit | undefined> {
  const { core, runtime } = deps;
  const record = run.record;
  const product = await runtime.product(productCode);
  if (product.failover === undefined) return;
  const tried = [...(record.routing?.failover?.tried ?? []), record.channel];
  if (tried.length >= (product.failover.maxChannels ?? product.channels.length)) return;
  const input = (record.input ?? {}) as Record<string, unknown>;
  // The customer and amount the business was routed with at its start, never judged again.
  const plan = await planRoute(deps, product, input, tried, {
    amount: record.routing?.amount ?? null,
    customerRef: record.customerRef,
  });
  for (let index = 0; index < plan.order.length; index++) {
    const entry = plan.order[index]!;
    // An account whose own quota is full is passed over for the channel's next account.
    const fullAccounts = new Set<string>();
    for (let tryAccount = true; tryAccount; ) {
      tryAccount = false;
      let spawn: Awaited<ReturnType<typeof routedInstance>>;
      try {
        // The input was checked against the first channel's behavior only: check it again here.
        checkStartInput((await runtime.behavior(entry.channel, entry.behavior)).definition, input);
        spawn = await routedInstance(deps, plan, index, {
          businessKey: record.businessKey,
          input,
          inputDigest: record.inputDigest,
          failover: { of: record.id, tried },
          upstreamClient: record.upstreamClient ?? null,
          fullAccounts,
        });
      } catch (error) {
        const reason = channelCannotServe(error);
        if (reason === undefined) throw error;
        markCandidate(plan, entry.channel, "ineligible", reason);
        break;
      }
      if (spawn === undefined) {
        markCandidate(plan, entry.channel, "quota-exhausted", allAccountsFull(fullAccounts));
        break;
      }
      try {
        // The business goes on: the upstream hears how it ends from the next instance.
        const { notification: _ended, ...ending } = transition;
        const committed = await core.store.commitTransition({
          ...ending,
          spawn,
          spawnKeyChannels: productChannels(product),
        });
        return {
          record: committed,
          emit: async () => {
            const event: EngineEvent = {
              type: "instance.failed-over",
              instanceId: record.id,
              product: product.code,
              to: spawn.id,
              fromChannel: record.channel,
              toChannel: spawn.channel,
            };
            core.emit(event);
            const started = await core.store.getInstance(spawn.id);
            if (started) emitStarted(core, started);
          },
        };
      } catch (error) {
        if (isCapflowError(error, "QUOTA_EXHAUSTED")) {
          const account = accountOfQuota(String(error.context.scope), spawn);
          if (account !== undefined) {
            fullAccounts.add(account);
            tryAccount = true;
          } else {
            markCandidate(plan, spawn.channel, "quota-exhausted", error.message);
          }
        } else if (isCapflowError(error, "STORE_UNIQUE_VIOLATION")) {
          // Held on a channel of the product by another start: one business, one loan.
          throw new CapflowError(
            "BUSINESS_KEY_TAKEN",
            `business key ${record.businessKey} is already used on a channel of product ${product.code} by another start, so the business does not go to another channel; settle this instance, and look up the other`,
            { context: { instance: record.id, product: product.code } },
          );
        } else {
          throw error;
        }
      }
    }
  }
  return;
}

/** Errors a person must fix in the product or the business, not a passing outage. */
function productFault(error: unknown): boolean {
  if (!isCapflowError(error)) return false;
  return (
    error.code === "BUSINESS_KEY_TAKEN" ||
    error.code === "DEFINITION_NOT_FOUND" ||
    error.code === "DEFINITION_INVALID" ||
    error.code === "INSTANCE_INPUT_INVALID" ||
    error.code === "EXTRACT_FAILED" ||
    error.code === "ROUTE_EXPRESSION_INVALID"
  );
}

/**
 * The instance stops at the failover step, needing a person: `manual` rather than the step's
 * `failed`, so its quota holds stay (an operator settles them by moving it to its failed step,
 * or starts the business elsewhere) and the upstream hears it needs attention.
 */
async function park(
  deps: RoutingDeps,
  run: StepRun,
  transition: Transition,
  error: CapflowError,
  step: { events: readonly EngineEvent[]; notify: Notify },
): Promise<FailoverCommit> {
  const { core } = deps;
  const record = run.record;
  const stored = { code: error.code, message: `no failover: ${error.message}` };
  const { notification: _ended, quota: _released, ...plain } = transition;
  const parked: Transition = {
    ...plain,
    changes: {
      ...plain.changes,
      status: "manual",
      nextRunAt: null,
      waitingFor: null,
      lastError: stored,
    },
    ...(plain.log ? { log: { ...plain.log, toStatus: "manual", error: stored } } : {}),
    keepLease: false,
  };
  const at = String(plain.changes.step ?? record.step);
  const events: EngineEvent[] = [
    // The step's own events, but for how it settled.
    ...step.events.filter((e) => e.type !== "instance.settled" && e.type !== "instance.attention"),
    { type: "instance.settled", instanceId: record.id, status: "manual", step: at },
    {
      type: "instance.attention",
      instanceId: record.id,
      step: at,
      reason: "parked",
      code: error.code,
    },
  ];
  const committed = await core.store.commitTransition(step.notify(parked, events));
  return { record: committed, events, emit: async () => {} };
}
