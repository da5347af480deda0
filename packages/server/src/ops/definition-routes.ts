import {
  type BehaviorDefinition,
  CapflowError,
  type DefinitionSource,
  type InstanceStore,
} from "@capflow/core";
import { canonicalJson } from "@capflow/core/internal";
import type { FastifyInstance } from "fastify";
import { type BehaviorGraphView, behaviorGraphView } from "./behavior-graph-view.ts";
import type { BehaviorVersionView, DefinitionsView, VersionDiffView } from "./definition-views.ts";

export interface DefinitionRoutesOptions {
  store: InstanceStore;
  definitions: DefinitionSource;
}

const name = { type: "string", minLength: 1, maxLength: 200 } as const;

const behaviorParams = {
  type: "object",
  required: ["channel", "behavior"],
  additionalProperties: false,
  properties: { channel: name, behavior: name },
} as const;

const versionParams = {
  type: "object",
  required: ["channel", "behavior", "version"],
  additionalProperties: false,
  properties: { channel: name, behavior: name, version: { type: "integer", minimum: 1 } },
} as const;

/**
 * `GET /definitions` (channels with their time zones; behaviors with every stored version, the
 * active one, and how many unsettled instances each version pins), `GET
 * /definitions/:channel/:behavior/:version/graph` (steps and transitions), `GET
 * /definitions/:channel/:behavior/diff?from=&to=` (steps added, removed, changed, and the changed
 * fields). Viewer role.
 */
export async function definitionRoutes(app: FastifyInstance, options: DefinitionRoutesOptions) {
  const { store, definitions } = options;

  app.get("/definitions", { config: { role: "viewer" } }, async (): Promise<DefinitionsView> => {
    const [refs, unsettled] = await Promise.all([
      definitions.listBehaviors(),
      store.unsettledByStep(),
    ]);
    const pinned = new Map<string, number>();
    for (const group of unsettled) {
      const key = `${group.channel}/${group.behavior}/${group.behaviorVersion}`;
      pinned.set(key, (pinned.get(key) ?? 0) + group.count);
    }
    const channelCodes = [...new Set(refs.map((ref) => ref.channel))].sort();
    const channels: DefinitionsView["channels"] = [];
    for (const code of channelCodes) {
      const channel = await definitions.getChannel(code);
      if (channel) {
        channels.push({
          code,
          name: channel.definition.name ?? code,
          timeZone: channel.definition.timeZone,
        });
      }
    }
    const behaviors: DefinitionsView["behaviors"] = [];
    for (const ref of [...refs].sort(
      (a, b) => a.channel.localeCompare(b.channel) || a.behavior.localeCompare(b.behavior),
    )) {
      const versions: BehaviorVersionView[] = [];
      for (let version = 1; ; version++) {
        const loaded = await definitions.getBehavior(ref.channel, ref.behavior, version);
        if (loaded === undefined) {
          if (version > ref.activeVersion) break;
          continue;
        }
        versions.push({
          version,
          active: version === ref.activeVersion,
          steps: Object.keys(loaded.definition.steps).length,
          pinned: pinned.get(`${ref.channel}/${ref.behavior}/${version}`) ?? 0,
        });
      }
      behaviors.push({ channel: ref.channel, code: ref.behavior, versions });
    }
    return { channels, behaviors };
  });

  app.get<{ Params: { channel: string; behavior: string; version: number } }>(
    "/definitions/:channel/:behavior/:version/graph",
    { config: { role: "viewer" }, schema: { params: versionParams } },
    async (request): Promise<BehaviorGraphView> => {
      const { channel, behavior, version } = request.params;
      return behaviorGraphView(await mustGetBehavior(definitions, channel, behavior, version));
    },
  );

  app.get<{
    Params: { channel: string; behavior: string };
    Querystring: { from: number; to: number };
  }>(
    "/definitions/:channel/:behavior/diff",
    {
      config: { role: "viewer" },
      schema: {
        params: behaviorParams,
        querystring: {
          type: "object",
          required: ["from", "to"],
          additionalProperties: false,
          properties: {
            from: { type: "integer", minimum: 1 },
            to: { type: "integer", minimum: 1 },
          },
        },
      },
    },
    async (request): Promise<VersionDiffView> => {
      const { channel, behavior } = request.params;
      const [before, after] = await Promise.all([
        mustGetBehavior(definitions, channel, behavior, request.query.from),
        mustGetBehavior(definitions, channel, behavior, request.query.to),
      ]);
      return diffVersions(before, after);
    },
  );
}

async function mustGetBehavior(
  definitions: DefinitionSource,
  channel: string,
  behavior: string,
  version: number,
): Promise<BehaviorDefinition> {
  const loaded = await definitions.getBehavior(channel, behavior, version);
  if (loaded === undefined) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `no version ${version} of ${channel}/${behavior}; GET /v1/ops/definitions lists the versions`,
      { context: { channel, behavior } },
    );
  }
  return loaded.definition;
}

/** Steps added, removed and changed between two versions, and which fields of each changed. */
export function diffVersions(
  before: BehaviorDefinition,
  after: BehaviorDefinition,
): VersionDiffView {
  const added = Object.keys(after.steps).filter((code) => !Object.hasOwn(before.steps, code));
  const removed = Object.keys(before.steps).filter((code) => !Object.hasOwn(after.steps, code));
  const changed: string[] = [];
  const fields: string[] = [];
  for (const [code, step] of Object.entries(after.steps)) {
    const old = before.steps[code];
    if (old === undefined || canonicalJson(old) === canonicalJson(step)) continue;
    changed.push(code);
    const keys = new Set([...Object.keys(old), ...Object.keys(step)]);
    for (const key of keys) {
      const a = (old as unknown as Record<string, unknown>)[key];
      const b = (step as unknown as Record<string, unknown>)[key];
      if (canonicalJson(a ?? null) !== canonicalJson(b ?? null)) fields.push(`${code}.${key}`);
    }
  }
  if (before.initial !== after.initial) fields.push("initial");
  return { added, removed, changed, fields };
}
