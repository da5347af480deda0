import type { DefinitionSource, InstanceRecord, MaskingRules } from "@capflow/core";

/** The masking rules of an instance's channel and pinned behavior version, merged. */
export async function maskingFor(
  definitions: DefinitionSource,
  instance: InstanceRecord,
): Promise<MaskingRules | undefined> {
  const [channel, behavior] = await Promise.all([
    definitions.getChannel(instance.channel),
    definitions.getBehavior(instance.channel, instance.behavior, instance.behaviorVersion),
  ]);
  const fields = {
    ...channel?.definition.masking?.fields,
    ...behavior?.definition.masking?.fields,
  };
  return Object.keys(fields).length === 0 ? undefined : { fields };
}
