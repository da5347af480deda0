import { parseDuration } from "../../definition/duration.ts";
import { ownEntry } from "../../definition/own-entry.ts";
import type {
  BreakerDefinition,
  ChannelDefinition,
  InterfaceDefinition,
} from "../../definition/types.ts";
import type { Limits } from "../../ports/limiter.ts";
import type { BreakerSettings } from "./circuit-breaker.ts";
import type { FlowRequest } from "./flow-control.ts";

/** Bulkhead of a channel that does not set one. */
export const defaultBulkhead = 16;

type InterfaceFlow = Omit<FlowRequest, "channel" | "interface" | "bulkhead" | "account">;

// Definitions are immutable once loaded: derive each interface's part once, and keep handing out
// the same breaker settings object so FlowControl recognises it without comparing contents.
const derived = new WeakMap<InterfaceDefinition, InterfaceFlow>();

/**
 * The flow-control request for a call to `channel.interfaces[interfaceName]`, from the definitions:
 * its limits, the channel's bulkhead, its breaker, and a permit TTL above the call's longest
 * duration (connect + response timeout, plus a margin), so a live call never outlives its permit.
 * With `account`, the limits of that account of the channel apply too.
 */
export function flowRequestFor(
  channel: ChannelDefinition,
  interfaceName: string,
  account?: string | null,
): FlowRequest {
  const definition = ownEntry(channel.interfaces, interfaceName);
  if (definition === undefined) {
    throw new RangeError(`channel ${channel.code} has no interface "${interfaceName}"`);
  }
  let flow = derived.get(definition);
  if (flow === undefined) {
    flow = interfaceFlow(definition);
    derived.set(definition, flow);
  }
  return {
    channel: channel.code,
    interface: interfaceName,
    bulkhead: channel.bulkhead ?? defaultBulkhead,
    ...flow,
    ...accountFlow(channel, account),
  };
}

/** An account's own limits (the funder's per merchant id), when it has any. */
function accountFlow(
  channel: ChannelDefinition,
  code: string | null | undefined,
): Pick<FlowRequest, "account"> {
  const account = ownEntry(channel.accounts, code);
  if (account === undefined || (account.concurrency === undefined && account.rate === undefined)) {
    return {};
  }
  const limits: Limits = {};
  if (account.concurrency !== undefined) limits.concurrency = account.concurrency;
  if (account.rate !== undefined) {
    limits.rate = { limit: account.rate.limit, windowMs: parseDuration(account.rate.per) };
  }
  return { account: { code: code!, limits } };
}

function interfaceFlow(definition: InterfaceDefinition): InterfaceFlow {
  const limits: Limits = {};
  if (definition.concurrency !== undefined) limits.concurrency = definition.concurrency;
  if (definition.rate !== undefined) {
    limits.rate = { limit: definition.rate.limit, windowMs: parseDuration(definition.rate.per) };
  }
  // undici's timeout applies to the headers and, again, to each pause in the body: a call can
  // last connect + 2 × timeout. A permit must outlive it, or the limit is exceeded meanwhile.
  const callMs =
    parseDuration(definition.connectTimeout ?? "5s") +
    2 * parseDuration(definition.timeout ?? "30s");
  return {
    limits,
    permitTtlMs: callMs + 5_000,
    ...(definition.breaker === undefined ? {} : { breaker: breakerSettings(definition.breaker) }),
  };
}

function breakerSettings(definition: BreakerDefinition): BreakerSettings {
  const { cooldown, ...rest } = definition;
  return cooldown === undefined ? rest : { ...rest, cooldownMs: parseDuration(cooldown) };
}
