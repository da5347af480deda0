import type { RuntimeCache } from "../engine/runtime-cache.ts";
import { maskFields, maskingRulesOf } from "../message/mask.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";

/**
 * Masks an instance's extracted fields for a notification with the channel's and the behavior's
 * rules, as its step logs are masked. Undefined when the definitions cannot be read: the
 * notification then carries no fields rather than unmasked ones.
 */
export async function resultMasker(
  runtime: RuntimeCache,
  record: InstanceRecord,
): Promise<((value: unknown) => unknown) | undefined> {
  try {
    const [channel, behavior] = await Promise.all([
      runtime.channel(record.channel, record.account),
      runtime.behavior(record.channel, record.behavior, record.behaviorVersion),
    ]);
    const rules = maskingRulesOf(channel.definition, behavior.definition);
    return (value) => maskFields(value, rules);
  } catch {
    return undefined;
  }
}
