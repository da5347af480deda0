import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import { CapflowError } from "../errors.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";
import type { EngineCore } from "./engine-core.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { newId } from "./new-id.ts";
import type { RuntimeCache } from "./runtime-cache.ts";

export interface StartRequest {
  channel: string;
  behavior: string;
  businessKey: string;
  input: Record<string, unknown>;
}

/**
 * Starts a behavior (its active version) for a business record, or returns the instance already
 * started for it; the store's unique key on (channel, behavior, businessKey) decides, so two
 * starts racing on several nodes make one instance. Throws `INSTANCE_INPUT_MISMATCH` if that
 * instance was started with different input.
 */
export async function startInstance(
  core: EngineCore,
  runtime: RuntimeCache,
  request: StartRequest,
): Promise<InstanceRecord> {
  const behavior = await runtime.behavior(request.channel, request.behavior);
  const now = core.clock.now();
  const initial = behavior.definition.steps[behavior.definition.initial]!;
  const schedule = entrySchedule(initial, now);
  const inputDigest = digestOf(request.input);
  const { instance, created } = await core.store.createInstance({
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
    now,
  });
  if (!created && instance.inputDigest !== inputDigest) {
    throw new CapflowError(
      "INSTANCE_INPUT_MISMATCH",
      `${request.channel}/${request.behavior} was already started for business key ${request.businessKey} with different input; use a new business key or look up the existing instance ${instance.id}`,
      { context: { channel: request.channel, behavior: request.behavior, instance: instance.id } },
    );
  }
  if (created) {
    core.emit({
      type: "instance.started",
      instanceId: instance.id,
      channel: instance.channel,
      behavior: instance.behavior,
      businessKey: instance.businessKey,
    });
  }
  return instance;
}

function digestOf(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}
