import { checkResendSafety } from "../definition/check-resend-safety.ts";
import { behaviorTemplates } from "../definition/definition-strings.ts";
import { fromPointer } from "../definition/json-pointer.ts";
import type { KnownProcessors } from "../definition/registries.ts";
import { scanTemplateProcessors } from "../definition/template-processors.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type { InstanceStore, UnsettledStepCount } from "../ports/instance-store.ts";
import { channelNeeds, reachableSteps } from "./step-needs.ts";

/** What a push would store. */
export interface IncomingDefinitions {
  channels: readonly ChannelDefinition[];
  behaviors: readonly BehaviorDefinition[];
}

export interface PushImpactInput {
  incoming: IncomingDefinitions;
  /** The definitions as stored now (pinned versions, active versions, channels). */
  definitions: DefinitionSource;
  /** Where the running instances are. */
  instances: Pick<InstanceStore, "unsettledByStep">;
  /** When given, the templates pinned versions will still render must name known processors. */
  processors?: KnownProcessors;
}

export type BreakingChangeKind =
  /** A pushed channel lacks an interface that steps still to come call. */
  | "interface-missing"
  /** A pushed channel lacks a callback that steps still to come wait for (its notifications would get 404). */
  | "callback-missing"
  /** An interface became non-idempotent under a pinned version that cannot ask after a timeout. */
  | "resend-unsafe"
  /** A template still to be rendered names a processor that is not registered. */
  | "unknown-processor"
  /** Instances are pinned to a version the store does not have. */
  | "version-missing"
  /** Instances stand at a step their pinned version does not have. */
  | "step-missing";

/** One thing a push would break, with the instances it would break. */
export interface BreakingChange {
  kind: BreakingChangeKind;
  channel: string;
  behavior: string;
  version: number;
  /** The interface, callback, processor or step concerned. */
  name: string;
  /** What breaks and for whom, in words. */
  message: string;
  /** Unsettled instances that would break; 0 when only new instances would. */
  instances: number;
  /** Where those instances stand now. */
  byStep: { step: string; count: number }[];
  /** A few of them, oldest first. */
  examples: { id: string; businessKey: string }[];
  /** New instances start on this version (the active one after the push) and would break too. */
  activeVersion: boolean;
}

/** Examples kept per breaking change. */
const examplesPerChange = 5;

/**
 * What running instances need that a push would take away. Behavior versions are immutable and
 * instances stay pinned to theirs, so a push breaks them only through their channel, which is
 * live: every interface and callback that a step still ahead of an unsettled instance uses must
 * stay in the pushed channel, the idempotency its calls rely on must hold, and the templates it
 * will render must name known processors. The same holds for the active version new instances
 * start on, when the push does not replace it.
 *
 * Never throws for what it finds: each finding is a `BreakingChange` with the instances concerned.
 */
export async function analyzePushImpact(input: PushImpactInput): Promise<BreakingChange[]> {
  const pushed = new Map(input.incoming.channels.map((channel) => [channel.code, channel]));
  if (pushed.size === 0) return [];
  const replaced = new Set(input.incoming.behaviors.map((b) => `${b.channel}/${b.code}`));
  const versions = new Map<string, PinnedVersion>();
  const pinned = (channel: string, behavior: string, version: number): PinnedVersion => {
    const key = `${channel}/${behavior}@${version}`;
    let entry = versions.get(key);
    if (entry === undefined) {
      entry = { channel, behavior, version, groups: [], active: false };
      versions.set(key, entry);
    }
    return entry;
  };
  for (const group of await input.instances.unsettledByStep({ channels: [...pushed.keys()] })) {
    pinned(group.channel, group.behavior, group.behaviorVersion).groups.push(group);
  }
  for (const ref of await input.definitions.listBehaviors()) {
    if (!pushed.has(ref.channel) || replaced.has(`${ref.channel}/${ref.behavior}`)) continue;
    pinned(ref.channel, ref.behavior, ref.activeVersion).active = true;
  }

  const found = new Findings();
  for (const entry of versions.values()) {
    const channel = pushed.get(entry.channel)!;
    const stored = await input.definitions.getBehavior(
      entry.channel,
      entry.behavior,
      entry.version,
    );
    if (stored === undefined) {
      for (const group of entry.groups)
        found.add(entry, "version-missing", `${entry.version}`, group);
      continue;
    }
    const before = (await input.definitions.getChannel(entry.channel))?.definition;
    const check = new VersionCheck(stored.definition, channel, before, input.processors);
    for (const group of entry.groups) {
      if (stored.definition.steps[group.step] === undefined) {
        found.add(entry, "step-missing", group.step, group);
        continue;
      }
      for (const [kind, name] of check.breaksFrom([group.step]))
        found.add(entry, kind, name, group);
    }
    if (entry.active) {
      for (const [kind, name] of check.breaksFrom([stored.definition.initial])) {
        found.add(entry, kind, name, undefined);
      }
    }
  }
  return found.list(input.definitions);
}

interface PinnedVersion {
  channel: string;
  behavior: string;
  version: number;
  groups: UnsettledStepCount[];
  /** The active version after the push: new instances start on it. */
  active: boolean;
}

/** One pinned version checked against the pushed channel, per starting step. */
class VersionCheck {
  readonly #unsafeSteps: Set<string>;

  constructor(
    private readonly behavior: BehaviorDefinition,
    private readonly channel: ChannelDefinition,
    before: ChannelDefinition | undefined,
    private readonly processors: KnownProcessors | undefined,
  ) {
    // Resend-safety problems the pushed channel introduces (those it already had are not new).
    const known = new Set(
      (before ? checkResendSafety(behavior, before, "") : []).map((p) => `${p.code}${p.pointer}`),
    );
    this.#unsafeSteps = new Set(
      checkResendSafety(behavior, channel, "")
        .filter((p) => !known.has(`${p.code}${p.pointer}`))
        .map((p) => String(fromPointer(p.pointer)[1])),
    );
  }

  /** `[kind, name]` of everything that breaks for an instance at one of `from`. */
  breaksFrom(from: string[]): [BreakingChangeKind, string][] {
    const steps = reachableSteps(this.behavior, from);
    const needs = channelNeeds(this.behavior, steps);
    const breaks: [BreakingChangeKind, string][] = [];
    for (const name of needs.interfaces.keys()) {
      if (!Object.hasOwn(this.channel.interfaces, name)) breaks.push(["interface-missing", name]);
    }
    for (const name of needs.callbacks.keys()) {
      if (!Object.hasOwn(this.channel.callbacks ?? {}, name))
        breaks.push(["callback-missing", name]);
    }
    for (const step of steps) if (this.#unsafeSteps.has(step)) breaks.push(["resend-unsafe", step]);
    if (this.processors !== undefined) {
      const unknown = new Set<string>();
      for (const template of behaviorTemplates(this.behavior)) {
        if (!steps.has(String(fromPointer(template.pointer)[1]))) continue;
        const scan = scanTemplateProcessors(template.text);
        if (!scan.ok) continue;
        for (const use of scan.processors) {
          if (!this.processors.hasProcessor(use.name)) unknown.add(use.name);
        }
      }
      for (const name of unknown) breaks.push(["unknown-processor", name]);
    }
    return breaks;
  }
}

/** Findings accumulated per (kind, pinned version, name). */
class Findings {
  readonly #byKey = new Map<string, Omit<BreakingChange, "message">>();

  add(
    entry: PinnedVersion,
    kind: BreakingChangeKind,
    name: string,
    group: UnsettledStepCount | undefined,
  ): void {
    const key = `${kind}\u0000${entry.channel}/${entry.behavior}@${entry.version}\u0000${name}`;
    let change = this.#byKey.get(key);
    if (change === undefined) {
      change = {
        kind,
        channel: entry.channel,
        behavior: entry.behavior,
        version: entry.version,
        name,
        instances: 0,
        byStep: [],
        examples: [],
        activeVersion: false,
      };
      this.#byKey.set(key, change);
    }
    if (group === undefined) {
      change.activeVersion = true;
      return;
    }
    change.instances += group.count;
    change.byStep.push({ step: group.step, count: group.count });
    for (const example of group.examples) {
      if (change.examples.length < examplesPerChange) change.examples.push(example);
    }
  }

  async list(definitions: DefinitionSource): Promise<BreakingChange[]> {
    const result: BreakingChange[] = [];
    for (const change of this.#byKey.values()) {
      const before = (await definitions.getChannel(change.channel))?.definition;
      result.push({ ...change, message: describeBreak(change, before) });
    }
    return result;
  }
}

function describeBreak(
  change: Omit<BreakingChange, "message">,
  before: ChannelDefinition | undefined,
): string {
  const { channel, behavior, version, name } = change;
  const who = [
    change.instances > 0
      ? `${change.instances === 1 ? "1 instance" : `${change.instances} instances`} of ${channel}/${behavior} version ${version} still ${change.instances === 1 ? "needs" : "need"} it`
      : "",
    change.activeVersion
      ? `new instances start on ${channel}/${behavior} version ${version}, which needs it`
      : "",
  ]
    .filter(Boolean)
    .join(", and ");
  const had = (map: Record<string, unknown> | undefined) =>
    map !== undefined && Object.hasOwn(map, name);
  switch (change.kind) {
    case "interface-missing":
      return `${channel}: interface "${name}" is ${had(before?.interfaces) ? "removed" : "missing"}, but ${who}`;
    case "callback-missing":
      return `${channel}: callback "${name}" is ${had(before?.callbacks) ? "removed" : "missing"}, but ${who} (its notifications would be refused)`;
    case "resend-unsafe":
      return `${channel}: call step "${name}" of ${channel}/${behavior} version ${version} is no longer idempotent, yet that version cannot ask after a timeout; ${who.replace(/needs? it/g, "may reach that step")}`;
    case "unknown-processor":
      return `${channel}/${behavior} version ${version}: templates still to render use processor "${name}", which is not registered; ${who}`;
    case "version-missing":
      return `${channel}/${behavior}: ${change.instances} instances are pinned to version ${version}, which is not stored`;
    case "step-missing":
      return `${channel}/${behavior} version ${version} has no step "${name}", where ${change.instances} instances stand`;
  }
}
