import type { NewInstance, NewStepLogEntry } from "../ports/instance-store.ts";

/**
 * The first history entry of a product's instance: the channel (and account) routing chose, by
 * which rule, and after which channels when it replaces an instance on another one. Written by
 * the store with the instance, so the history says why from its first line (and, for an
 * operator's start, who started it and why).
 */
export function routedLogEntry(instance: NewInstance): NewStepLogEntry {
  const routing = instance.routing;
  const target = instance.account ? `${instance.channel}#${instance.account}` : instance.channel;
  const after = routing?.failover ? ` after ${routing.failover.tried.join(", ")}` : "";
  return {
    step: instance.step,
    attempt: 0,
    event: "routed",
    toStep: instance.step,
    toStatus: instance.status,
    outcome: `${target} by ${routing?.rule ?? "request"}${after}`,
    startedAt: instance.now,
    durationMs: 0,
    ...(instance.startedBy ? { actor: instance.startedBy } : {}),
  };
}
