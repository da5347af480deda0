import diff from "microdiff";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type { IncomingDefinitions } from "./push-impact.ts";

export type DefinitionChange = "added" | "changed" | "unchanged";

/** One value that differs between the stored definition and the pushed one. */
export interface FieldChange {
  /** Where, from the definition's root: `["interfaces", "loan.query", "timeout"]`. */
  path: (string | number)[];
  kind: "added" | "removed" | "changed";
  before?: unknown;
  after?: unknown;
}

export interface ChannelDiff {
  code: string;
  change: DefinitionChange;
  fields: FieldChange[];
}

export interface BehaviorDiff {
  channel: string;
  code: string;
  /** `changed` and `added` make a new version, active from the push on. */
  change: DefinitionChange;
  /** The active version now, if there is one. */
  activeVersion?: number;
  steps: { added: string[]; removed: string[]; changed: string[] };
  fields: FieldChange[];
}

/** What a push would change, per channel and behavior. */
export interface DefinitionDiff {
  channels: ChannelDiff[];
  behaviors: BehaviorDiff[];
}

/**
 * Compares the definitions a push would store with those stored now: a channel is replaced as a
 * whole (its changes apply to running instances at once), a behavior that differs becomes a new
 * version. Equality is by value, like the store's digest: key order and `$schema` do not count.
 */
export async function diffDefinitions(
  incoming: IncomingDefinitions,
  definitions: DefinitionSource,
): Promise<DefinitionDiff> {
  const channels: ChannelDiff[] = [];
  for (const channel of incoming.channels) {
    const stored = (await definitions.getChannel(channel.code))?.definition;
    const fields = stored === undefined ? [] : fieldChanges(stored, channel);
    channels.push({ code: channel.code, change: changeOf(stored, fields), fields });
  }
  const behaviors: BehaviorDiff[] = [];
  for (const behavior of incoming.behaviors) {
    const stored = await definitions.getBehavior(behavior.channel, behavior.code);
    const fields = stored === undefined ? [] : fieldChanges(stored.definition, behavior);
    behaviors.push({
      channel: behavior.channel,
      code: behavior.code,
      change: changeOf(stored, fields),
      ...(stored === undefined ? {} : { activeVersion: stored.version }),
      steps: stepChanges(stored?.definition, behavior, fields),
      fields,
    });
  }
  return { channels, behaviors };
}

type Difference = ReturnType<typeof diff>[number];

/** A named map added or removed whole (`callbacks`) is told entry by entry (`callback x`). */
function entriesOfWholeMap(d: Difference): Difference[] {
  const [root] = d.path;
  if (d.path.length !== 1 || typeof root !== "string" || namedEntries[root] === undefined) {
    return [d];
  }
  if (d.type === "CREATE" && isRecord(d.value)) {
    return Object.entries(d.value).map(([name, value]) => ({
      type: "CREATE",
      path: [root, name],
      value,
    }));
  }
  if (d.type === "REMOVE" && isRecord(d.oldValue)) {
    return Object.entries(d.oldValue).map(([name, oldValue]) => ({
      type: "REMOVE",
      path: [root, name],
      oldValue,
    }));
  }
  return [d];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function changeOf(stored: unknown, fields: readonly FieldChange[]): DefinitionChange {
  return stored === undefined ? "added" : fields.length > 0 ? "changed" : "unchanged";
}

/** Field by field, `$schema` (an editor hint) left out. */
export function fieldChanges(
  before: ChannelDefinition | BehaviorDefinition,
  after: ChannelDefinition | BehaviorDefinition,
): FieldChange[] {
  const { $schema: _a, ...from } = before;
  const { $schema: _b, ...to } = after;
  return diff(from, to)
    .flatMap(entriesOfWholeMap)
    .map((d): FieldChange => {
      switch (d.type) {
        case "CREATE":
          return { path: d.path, kind: "added", after: d.value };
        case "REMOVE":
          return { path: d.path, kind: "removed", before: d.oldValue };
        default:
          return { path: d.path, kind: "changed", before: d.oldValue, after: d.value };
      }
    });
}

function stepChanges(
  before: BehaviorDefinition | undefined,
  after: BehaviorDefinition,
  fields: readonly FieldChange[],
): BehaviorDiff["steps"] {
  const old = before?.steps ?? {};
  const added = Object.keys(after.steps).filter((code) => !Object.hasOwn(old, code));
  const removed = Object.keys(old).filter((code) => !Object.hasOwn(after.steps, code));
  const changed = new Set<string>();
  for (const field of fields) {
    const [root, code] = field.path;
    if (root === "steps" && field.path.length > 2) changed.add(String(code));
  }
  return { added, removed, changed: [...changed] };
}

/** Maps of named entries a change is best told by: `interface loan.query`, `step apply`. */
const namedEntries: Record<string, string> = {
  interfaces: "interface",
  callbacks: "callback",
  steps: "step",
};

/** One change in words: `~ interface loan.query timeout: "10s" → "15s"`. */
export function describeFieldChange(change: FieldChange): string {
  const [root, name, ...rest] = change.path;
  // A scheduled change added or removed whole: when, and what it sets.
  if (root === "future" && rest.length === 0 && change.kind !== "changed") {
    const entry = (change.kind === "added" ? change.after : change.before) as {
      effectiveFrom?: string;
      values?: Record<string, unknown>;
    };
    const sign = change.kind === "added" ? "+" : "-";
    return `${sign} future values from ${entry.effectiveFrom}: ${describeFutureValues(entry.values ?? {}).join("; ")}`;
  }
  const entry = typeof root === "string" ? namedEntries[root] : undefined;
  const where =
    entry !== undefined && name !== undefined
      ? `${entry} ${name}${rest.length > 0 ? ` ${dotted(rest)}` : ""}`
      : dotted(change.path);
  const wholeEntry = entry !== undefined && rest.length === 0;
  switch (change.kind) {
    case "added":
      return wholeEntry ? `+ ${where}` : `+ ${where} = ${shown(change.after)}`;
    case "removed":
      return wholeEntry ? `- ${where}` : `- ${where} (was ${shown(change.before)})`;
    case "changed":
      return `~ ${where}: ${shown(change.before)} → ${shown(change.after)}`;
  }
}

function dotted(path: readonly (string | number)[]): string {
  return path
    .map((part, index) =>
      typeof part === "number" ? `[${part}]` : index === 0 ? part : `.${part}`,
    )
    .join("");
}

/** A value as JSON, cut to a line. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** A merge patch in words, one entry per value it sets or removes: `baseUrl = "https://…"`. */
export function describeFutureValues(values: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const visit = (value: unknown, path: string[]) => {
    if (value === null) lines.push(`${path.join(".")} removed`);
    else if (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    } else lines.push(`${path.join(".")} = ${shown(value)}`);
  };
  visit(values, []);
  return lines;
}
