import type { EngineEvent } from "../engine/engine-events.ts";
import { emitStarted } from "../engine/start-instance.ts";
import type { StepRun } from "../engine/step-run.ts";
import { isCapflowError } from "../errors.ts";
import type { InstanceRecord, Transition } from "../ports/instance-store.ts";
import { mayHaveMovedMoney } from "./quota-effect.ts";
import {
  accountOfQuota,
  allAccountsFull,
  markCandidate,
  planRoute,
  type RoutingDeps,
  routedInstance,
} from "./route-product.ts";

/**
 * Commits a transition into a `failover` step together with the instance that carries the
 * business on to the product's next eligible channel: one commit ends this instance (releasing
 * its quotas) and creates the next one (reserving its own), so the business is never lost between
 * them nor started twice. The next instance links to this one (`failoverOf`); the product's
 * business key stays unique because only a first instance may lack that link.
 *
 * Returns undefined, committing nothing, when there is nothing to fail over to (not a product's
 * instance, a product without failover, no channel left with room): the caller then commits the
 * plain transition. Never after a money-moving call may have gone out, even for a definition the
 * validator never saw.
 */
export async function commitWithFailover(
  deps: RoutingDeps,
  run: StepRun,
  to: string,
  transition: Transition,
): Promise<{ record: InstanceRecord; emit: () => Promise<void> } | undefined> {
  const { core, runtime } = deps;
  const record = run.record;
  const target = run.behavior.definition.steps[to];
  if (record.product === null || target?.kind !== "terminal" || target.failover !== true) return;
  if (mayHaveMovedMoney(run.behavior.definition, record)) return;
  const product = await runtime.product(record.product);
  if (product.failover === undefined) return;
  const tried = [...(record.routing?.failover?.tried ?? []), record.channel];
  if (tried.length >= (product.failover.maxChannels ?? product.channels.length)) return;
  const input = (record.input ?? {}) as Record<string, unknown>;
  const plan = await planRoute(deps, product, input, tried);
  for (let index = 0; index < plan.order.length; index++) {
    const entry = plan.order[index]!;
    // An account whose own quota is full is passed over for the channel's next account.
    const fullAccounts = new Set<string>();
    for (let tryAccount = true; tryAccount; ) {
      tryAccount = false;
      const spawn = await routedInstance(deps, plan, index, {
        businessKey: record.businessKey,
        input,
        inputDigest: record.inputDigest,
        failover: { of: record.id, tried },
        upstreamClient: record.upstreamClient ?? null,
        fullAccounts,
      });
      if (spawn === undefined) {
        markCandidate(plan, entry.channel, "quota-exhausted", allAccountsFull(fullAccounts));
        break;
      }
      try {
        // The business goes on: the upstream hears how it ends from the next instance.
        const { notification: _ended, ...ending } = transition;
        const committed = await core.store.commitTransition({ ...ending, spawn });
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
          markCandidate(plan, spawn.channel, "ineligible", "business key already used there");
        } else {
          throw error;
        }
      }
    }
  }
  return;
}
