import { createHash } from "node:crypto";
import { Decimal } from "decimal.js";
import type { ProductChannel, ProductDefinition } from "../definition/product-types.ts";
import type { EngineCore } from "../engine/engine-core.ts";
import { entrySchedule } from "../engine/entry-schedule.ts";
import { newId } from "../engine/new-id.ts";
import type { RuntimeCache } from "../engine/runtime-cache.ts";
import { traceOfStart } from "../engine/tracing.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { evaluateExpression } from "../message/cel.ts";
import type { ChannelBehavior, NewInstance } from "../ports/instance-store.ts";
import type { RoutingCandidate, RoutingRecord, RoutingRule } from "../ports/routing.ts";
import { unhealthyReason } from "./channel-health.ts";
import { chooseAccount } from "./choose-account.ts";
import { amountExample, defaultAmountScale, plainAmount } from "./plain-amount.ts";
import { quotaReservations } from "./quota-reservations.ts";
import { weightedOrder } from "./smooth-weighted-round-robin.ts";

export interface RoutingDeps {
  core: EngineCore;
  runtime: RuntimeCache;
}

/** The channels of a product to try for one business, in order, and what each other one was. */
export interface RoutePlan {
  product: ProductDefinition;
  amount: string | null;
  customerRef: string | null;
  position: number;
  /** The rule that ordered the first candidate. */
  rule: RoutingRule;
  /** Every channel of the product; the ones in `order` start as `not-needed`. */
  candidates: RoutingCandidate[];
  /** Eligible, healthy channels not tried before, in the order to try. */
  order: ProductChannel[];
}

/** What a business was routed with at its start, which a failover carries on as it was. */
export interface RoutedWith {
  /** `routing.amount`; null when it was routed without an amount. */
  amount: string | null;
  /** The instance's `customerRef`; null when its start knew no customer. */
  customerRef: string | null;
}

/**
 * Plans where a product's business goes: eligibility (`when` on the input), health (breaker,
 * limiter, calendar), channels already tried (failover), then customer stickiness or alternation
 * and smooth weighted round robin at a position drawn from the product's shared counter. Quotas
 * are checked when an instance is created: a full one sends the business to the next in order.
 *
 * `routed`, for a failover: what the business was routed with at its start. Its customer and
 * amount are taken as they were, never read from the input and judged again by expressions that
 * may have been edited since; the input is read for an amount only when none was stored.
 */
export async function planRoute(
  deps: RoutingDeps,
  product: ProductDefinition,
  input: Record<string, unknown>,
  tried: readonly string[] = [],
  routed?: RoutedWith,
): Promise<RoutePlan> {
  const { core, runtime } = deps;
  const now = core.clock.now();
  const amount =
    product.amount === undefined ? null : (routed?.amount ?? productAmount(product, input));
  const customerRef = routed === undefined ? customerRefOf(product, input) : routed.customerRef;
  const candidates: RoutingCandidate[] = [];
  const usable: ProductChannel[] = [];
  for (const entry of product.channels) {
    const candidate: RoutingCandidate = {
      channel: entry.channel,
      behavior: entry.behavior,
      weight: entry.weight,
      state: "not-needed",
    };
    candidates.push(candidate);
    if (tried.includes(entry.channel)) {
      candidate.state = "tried";
      continue;
    }
    if (entry.when !== undefined && !holds(entry.when, input, product.code, entry.channel)) {
      candidate.state = "ineligible";
      candidate.reason = `when ${entry.when} is false`;
      continue;
    }
    let behavior: Awaited<ReturnType<RuntimeCache["behavior"]>>;
    try {
      behavior = await runtime.behavior(entry.channel, entry.behavior);
    } catch (error) {
      // A behavior removed since the product was pushed: the channel cannot take the business.
      if (!isCapflowError(error, "DEFINITION_NOT_FOUND")) throw error;
      candidate.state = "ineligible";
      candidate.reason = error.message;
      continue;
    }
    const unhealthy = await unhealthyReason(entry.channel, behavior.definition, {
      flow: core.flow,
      calendar: core.calendar,
      now,
    });
    if (unhealthy !== undefined) {
      candidate.state = "unhealthy";
      candidate.reason = unhealthy;
      continue;
    }
    usable.push(entry);
  }

  let rule: RoutingRule = "weighted-round-robin";
  let position = 0;
  let order = usable;
  if (usable.length > 1) {
    position = await core.store.nextRoutingPosition(product.code);
    order = weightedOrder(usable, position);
    if (product.customerRouting !== undefined && customerRef !== null) {
      const last = await core.store.lastCustomerInstance({ customerRef, product: product.code });
      const index = last ? order.findIndex((entry) => entry.channel === last.channel) : -1;
      if (index >= 0 && product.customerRouting === "sticky") {
        order = [order[index]!, ...order.filter((_, i) => i !== index)];
        rule = "sticky";
      } else if (index >= 0 && product.customerRouting === "alternate") {
        // The weighted order of the others, then the customer's last channel.
        order = weightedOrder(
          usable.filter((entry) => entry.channel !== last!.channel),
          position,
        ).concat(order[index]!);
        rule = "alternate";
      }
    }
  }
  return { product, amount, customerRef, position, rule, candidates, order };
}

/**
 * The instance for the `index`-th channel of the plan, with its account, quota reservations and
 * routing record (the candidates tried before it had no room: `quota-exhausted` is set by the
 * caller on `plan.candidates`). Undefined when every account of the channel that serves this
 * input is in `fullAccounts`.
 */
export async function routedInstance(
  deps: RoutingDeps,
  plan: RoutePlan,
  index: number,
  business: {
    businessKey: string;
    input: Record<string, unknown>;
    inputDigest: string;
    failover?: { of: string; tried: string[] };
    upstreamClient?: string | null;
    /** The operator who starts it by hand, and why (recorded in its first history entry). */
    startedBy?: { who: string; why: string };
    /** Accounts of this channel whose own quota refused this business. */
    fullAccounts?: ReadonlySet<string>;
  },
): Promise<NewInstance | undefined> {
  const { core, runtime } = deps;
  const entry = plan.order[index]!;
  const now = core.clock.now();
  const [behavior, definition] = await Promise.all([
    runtime.behavior(entry.channel, entry.behavior),
    runtime.channelDefinition(entry.channel),
  ]);
  if (definition === undefined) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `channel "${entry.channel}" of product ${plan.product.code} is not defined; push its definition first`,
      { context: { product: plan.product.code, channel: entry.channel } },
    );
  }
  let lastAccount: string | null | undefined;
  if (definition.accountSelection === "alternate" && plan.customerRef !== null) {
    const last = await core.store.lastCustomerInstance({
      customerRef: plan.customerRef,
      channel: entry.channel,
    });
    lastAccount = last?.account;
  }
  const account = chooseAccount(
    definition,
    business.input,
    { lastAccount, spreadKey: plan.customerRef ?? business.businessKey },
    {
      ...(business.fullAccounts ? { full: business.fullAccounts } : {}),
      busy: (code) => core.flow.accountSaturated(entry.channel, code),
    },
  );
  if (account === "full") return undefined;
  const candidates = plan.candidates.map((candidate) => {
    if (candidate.channel === entry.channel) return { ...candidate, state: "chosen" as const };
    return { ...candidate };
  });
  const routing: RoutingRecord = {
    product: plan.product.code,
    rule: index === 0 ? plan.rule : "next-with-quota",
    position: plan.position,
    amount: plan.amount,
    candidates,
    ...(account ? { account } : {}),
    ...(business.failover ? { failover: business.failover } : {}),
    quotas: quotaReservations({
      product: plan.product.code,
      entry,
      channel: definition,
      account: account?.code,
      amount: plan.amount,
      now,
    }),
  };
  const initial = behavior.definition.steps[behavior.definition.initial]!;
  const schedule = entrySchedule(initial, now);
  return {
    id: newId(now),
    channel: entry.channel,
    behavior: entry.behavior,
    businessKey: business.businessKey,
    behaviorVersion: behavior.version,
    inputDigest: business.inputDigest,
    input: business.input,
    step: behavior.definition.initial,
    status: schedule.status,
    context: {},
    snapshot: behavior.machine.initial(now),
    nextRunAt: schedule.nextRunAt,
    waitingFor: schedule.waitingFor,
    product: plan.product.code,
    account: account?.code ?? null,
    customerRef: plan.customerRef,
    failoverOf: business.failover?.of ?? null,
    routing,
    ...traceOfStart(),
    ...(business.upstreamClient == null ? {} : { upstreamClient: business.upstreamClient }),
    ...(business.startedBy === undefined ? {} : { startedBy: business.startedBy }),
    now,
  };
}

/** The channels of a product, where a business key it starts must not be held by another start. */
export function productChannels(product: ProductDefinition): ChannelBehavior[] {
  return product.channels.map(({ channel, behavior }) => ({ channel, behavior }));
}

/** No channel could take the business: says why for each, so the caller knows what to fix. */
export function noChannelError(plan: RoutePlan): CapflowError {
  const why = plan.candidates
    .map((c) => `${c.channel}: ${c.state}${c.reason ? ` (${c.reason})` : ""}`)
    .join("; ");
  // Health and quotas change with time: a later start may find room.
  const transient = plan.candidates.some(
    (c) => c.state === "unhealthy" || c.state === "quota-exhausted",
  );
  return new CapflowError(
    "ROUTING_NO_CHANNEL",
    `no channel of product ${plan.product.code} can take this business now: ${why}`,
    {
      retryable: transient,
      context: { product: plan.product.code, candidates: plan.candidates },
    },
  );
}

/** The account whose own quota `scope` is, when it is this instance's account's; else undefined. */
export function accountOfQuota(
  scope: string,
  instance: Pick<NewInstance, "channel" | "behavior" | "account">,
): string | undefined {
  if (instance.account == null) return undefined;
  return scope === `account:${instance.channel}/${instance.account}/${instance.behavior}`
    ? instance.account
    : undefined;
}

/** Why a channel was left out when each of its accounts serving the input had a full quota. */
export function allAccountsFull(accounts: ReadonlySet<string>): string {
  return `every account serving this input has a full quota (${[...accounts].join(", ")})`;
}

/**
 * Why a channel of the plan cannot take this business at all, or undefined when `error` is not
 * about the channel: its definition or behavior is gone or broken, no account of it serves this
 * input, its behavior's input schema refuses it. The channel is then left out like an ineligible
 * one, never the reason to fail the whole routing.
 */
export function channelCannotServe(error: unknown): string | undefined {
  if (
    isCapflowError(error, "DEFINITION_NOT_FOUND") ||
    isCapflowError(error, "DEFINITION_INVALID") ||
    isCapflowError(error, "INSTANCE_INPUT_INVALID")
  ) {
    return error.message;
  }
  return undefined;
}

/** Marks a candidate of the plan, e.g. `quota-exhausted` after its quota refused the start. */
export function markCandidate(
  plan: RoutePlan,
  channel: string,
  state: RoutingCandidate["state"],
  reason: string,
): void {
  const candidate = plan.candidates.find((c) => c.channel === channel);
  if (candidate) Object.assign(candidate, { state, reason });
}

function holds(
  expression: string,
  input: Record<string, unknown>,
  product: string,
  channel: string,
): boolean {
  try {
    return evaluateExpression(expression, { input }, { product, channel }) === true;
  } catch {
    // An input the condition cannot read (a missing or mistyped field) is not eligible.
    return false;
  }
}

function productAmount(product: ProductDefinition, input: Record<string, unknown>): string | null {
  if (product.amount === undefined) return null;
  const scale = product.amountScale ?? defaultAmountScale;
  const value = evaluateExpression(product.amount, { input }, { product: product.code });
  const read = plainAmount(value, scale);
  if (read.ok) return new Decimal(read.amount).toString();
  const { problem } = read;
  const pointer = inputPointer(product.amount);
  const shape =
    scale === 0
      ? "whole digits"
      : `digits, optionally a point and up to ${scale} digit${scale === 1 ? "" : "s"} after it`;
  throw new CapflowError(
    "INSTANCE_INPUT_INVALID",
    `the amount of product ${product.code} (${product.amount}) ${problem}; send it as a plain decimal (${shape}; no sign, exponent, hexadecimal or blanks), best as a string such as ${amountExample(scale)}, and start again`,
    {
      context: {
        product: product.code,
        problems: [
          {
            pointer,
            message: `amount ${problem}; expected a plain decimal such as ${amountExample(scale)}`,
          },
        ],
      },
    },
  );
}

/** The JSON pointer into the input that a plain field path (`input.loan.amount`) reads, else "". */
function inputPointer(expression: string): string {
  const path = /^\s*input((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*$/.exec(expression)?.[1];
  return path === undefined ? "" : path.replaceAll(".", "/");
}

/** A digest of the customer id: routing needs to recognise a customer, not to read who it is. */
function customerRefOf(product: ProductDefinition, input: Record<string, unknown>): string | null {
  if (product.customer === undefined) return null;
  const value = evaluateExpression(product.customer, { input }, { product: product.code });
  if (value === null || value === undefined || value === "") return null;
  return createHash("sha256").update(String(value)).digest("hex");
}
