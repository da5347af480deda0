import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import { CapflowError } from "../errors.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";
import { chooseAccount } from "../routing/choose-account.ts";
import {
  accountOfQuota,
  allAccountsFull,
  channelCannotServe,
  markCandidate,
  noChannelError,
  planRoute,
  productChannels,
  routedInstance,
} from "../routing/route-product.ts";
import { checkStartInput } from "./check-start-input.ts";
import { checkSameClient, refuseTakenKey } from "./client-ownership.ts";
import type { EngineCore } from "./engine-core.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { newId } from "./new-id.ts";
import type { Actor } from "./operator-actions.ts";
import type { RuntimeCache } from "./runtime-cache.ts";
import { traceOfStart } from "./tracing.ts";

/** Start a behavior on a channel the caller chose. */
export interface ChannelStartRequest {
  channel: string;
  behavior: string;
  businessKey: string;
  input: Record<string, unknown>;
  /** The upstream client asking (the intake API sets it): its notifications go to that client. */
  upstreamClient?: string;
  /** An operator starting it by hand: who and why, recorded in its history with the insert. */
  actor?: Actor;
}

/** Start a product: routing chooses the channel (and its behavior and account). */
export interface ProductStartRequest {
  product: string;
  businessKey: string;
  input: Record<string, unknown>;
  /** The upstream client asking (the intake API sets it): its notifications go to that client. */
  upstreamClient?: string;
  /** An operator starting it by hand: who and why, recorded in its history with the insert. */
  actor?: Actor;
}

export type StartRequest = ChannelStartRequest | ProductStartRequest;

/**
 * Starts a behavior (its active version) for a business record, or returns the instance already
 * started for it; the store's unique key on (channel, behavior, businessKey) decides, so two
 * starts racing on several nodes make one instance. Throws `INSTANCE_INPUT_MISMATCH` if that
 * instance was started with different input, and `BUSINESS_KEY_TAKEN` (before comparing input)
 * if another upstream client started it, or if a product listing this channel (under any behavior)
 * holds the key (one business, one loan: routed there, not started here).
 */
export async function startInstance(
  core: EngineCore,
  runtime: RuntimeCache,
  request: StartRequest,
): Promise<InstanceRecord> {
  checkBusinessKey(request.businessKey);
  if ("product" in request) return startProduct(core, runtime, request);
  const [behavior, channel, keyProducts] = await Promise.all([
    runtime.behavior(request.channel, request.behavior),
    runtime.channelDefinition(request.channel),
    runtime.productsListing(request.channel),
  ]);
  checkStartInput(behavior.definition, request.input);
  const now = core.clock.now();
  const initial = behavior.definition.steps[behavior.definition.initial]!;
  const schedule = entrySchedule(initial, now);
  const inputDigest = digestOf(request.input);
  // An undefined channel starts anyway and parks at its first step, as before accounts existed.
  // A channel start reserves no quota: only an account's own call limits make it pass one over.
  const account =
    channel &&
    chooseAccount(
      channel,
      request.input,
      { lastAccount: undefined, spreadKey: request.businessKey },
      { busy: (code) => core.flow.accountSaturated(channel.code, code) },
    );
  // A product listing this channel that holds the key on another of its channels refuses it.
  const { instance, created } = await core.store.createInstance(
    {
      id: newId(now),
      channel: request.channel,
      behavior: request.behavior,
      businessKey: request.businessKey,
      behaviorVersion: behavior.version,
      inputDigest,
      input: request.input,
      step: behavior.definition.initial,
      status: schedule.status,
      context: {},
      snapshot: behavior.machine.initial(now),
      nextRunAt: schedule.nextRunAt,
      waitingFor: schedule.waitingFor,
      ...(account && account !== "full" ? { account: account.code } : {}),
      ...traceOfStart(),
      ...(request.upstreamClient === undefined ? {} : { upstreamClient: request.upstreamClient }),
      ...(request.actor === undefined ? {} : { startedBy: request.actor }),
      now,
    },
    keyProducts,
  );
  if (!created) {
    const what = `${request.channel}/${request.behavior}`;
    if (instance.channel !== request.channel || instance.behavior !== request.behavior) {
      refuseTakenKey(instance, request, what);
    }
    checkSameClient(instance, request, what);
    checkSameInput(instance, inputDigest, what);
  }
  if (created) emitStarted(core, instance);
  return instance;
}

/**
 * A product's start: the business's newest instance when it started already; otherwise the
 * planned channels are tried in order, each creation reserving its quotas atomically, until one
 * has room.
 */
async function startProduct(
  core: EngineCore,
  runtime: RuntimeCache,
  request: ProductStartRequest,
): Promise<InstanceRecord> {
  const inputDigest = digestOf(request.input);
  const key = { product: request.product, businessKey: request.businessKey };
  const started = await core.store.findProductInstance(key);
  const what = `product ${request.product}`;
  if (started) {
    checkSameClient(started, request, what);
    checkSameInput(started, inputDigest, what);
    return started;
  }
  const product = await runtime.product(request.product);
  const deps = { core, runtime };
  const plan = await planRoute(deps, product, request.input);
  // The key held on any channel of the product by another start refuses this one.
  const keyChannels = productChannels(product);
  for (let index = 0; index < plan.order.length; index++) {
    const entry = plan.order[index]!;
    // Invalid input is the caller's to fix, not a reason to try another channel.
    checkStartInput(
      (await runtime.behavior(entry.channel, entry.behavior)).definition,
      request.input,
    );
    // An account whose own quota is full is passed over for the channel's next account.
    const fullAccounts = new Set<string>();
    for (let tryAccount = true; tryAccount; ) {
      tryAccount = false;
      let instance: Awaited<ReturnType<typeof routedInstance>>;
      try {
        instance = await routedInstance(deps, plan, index, {
          businessKey: request.businessKey,
          input: request.input,
          inputDigest,
          fullAccounts,
          ...(request.upstreamClient === undefined
            ? {}
            : { upstreamClient: request.upstreamClient }),
          ...(request.actor === undefined ? {} : { startedBy: request.actor }),
        });
      } catch (error) {
        // A channel whose definition is gone or none of whose accounts serves this input.
        const reason = channelCannotServe(error);
        if (reason === undefined) throw error;
        markCandidate(plan, entry.channel, "ineligible", reason);
        break;
      }
      if (instance === undefined) {
        markCandidate(plan, entry.channel, "quota-exhausted", allAccountsFull(fullAccounts));
        break;
      }
      const result = await core.store.createRoutedInstance(instance, keyChannels);
      switch (result.outcome) {
        case "created":
          emitStarted(core, result.instance);
          return result.instance;
        case "existing":
          checkSameClient(result.instance, request, what);
          checkSameInput(result.instance, inputDigest, what);
          return result.instance;
        case "quota-exhausted": {
          const account = accountOfQuota(result.quota.scope, instance);
          if (account !== undefined) {
            fullAccounts.add(account);
            tryAccount = true;
            break;
          }
          markCandidate(
            plan,
            instance.channel,
            "quota-exhausted",
            `${result.quota.scope} has no room in ${result.quota.period}`,
          );
          break;
        }
        case "business-key-taken":
          // Held on a channel of the product by a channel start or another product: one
          // business, one loan; never a reason to try another channel.
          refuseTakenKey(result.instance, request, what);
      }
    }
  }
  const error = noChannelError(plan);
  core.emit({ type: "routing.refused", product: product.code, candidates: plan.candidates });
  throw error;
}

function checkSameInput(instance: InstanceRecord, inputDigest: string, what: string): void {
  if (instance.inputDigest === inputDigest) return;
  throw new CapflowError(
    "INSTANCE_INPUT_MISMATCH",
    `${what} was already started for business key ${instance.businessKey} with different input; use a new business key or look up the existing instance ${instance.id}`,
    { context: { channel: instance.channel, behavior: instance.behavior, instance: instance.id } },
  );
}

/** `instance.started`, and for a product's instance `instance.routed` saying where and why. */
export function emitStarted(core: EngineCore, instance: InstanceRecord): void {
  core.emit({
    type: "instance.started",
    instanceId: instance.id,
    channel: instance.channel,
    behavior: instance.behavior,
    businessKey: instance.businessKey,
  });
  if (instance.routing) {
    core.emit({
      type: "instance.routed",
      instanceId: instance.id,
      product: instance.routing.product,
      channel: instance.channel,
      behavior: instance.behavior,
      ...(instance.account ? { account: instance.account } : {}),
      rule: instance.routing.rule,
      candidates: instance.routing.candidates,
      ...(instance.failoverOf ? { failoverOf: instance.failoverOf } : {}),
    });
  }
}

export function digestOf(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/** A business key the store can keep and compare: no NUL character (PostgreSQL text refuses it). */
/** Refuses a business key no store can hold (a NUL character) with `INSTANCE_INPUT_INVALID`. */
export function checkBusinessKey(businessKey: string): void {
  if (businessKey.includes("\u0000")) {
    throw new CapflowError(
      "INSTANCE_INPUT_INVALID",
      "the business key holds a NUL character (\\u0000), which no business key may hold; send it without",
    );
  }
}
