import { resolve } from "node:path";
import {
  CapflowError,
  type DefinitionSource,
  type Duration,
  type QueuePolicy,
} from "@capflow/core";
import { parseDuration, readJsonFile } from "@capflow/core/internal";

export const queuesOptionHelp =
  "peak shaving (JSON, as in docs/protection.md): starts of these channels and behaviors are queued and admitted at their rate and concurrency, one node at a time; give every serve and worker the same file";

/** A queues file (`--queues <file>`) read and checked, with its absolute path. */
export interface QueuesFile {
  policies: QueuePolicy[];
  path: string;
}

const fields = new Set([
  "channel",
  "behavior",
  "ratePerSecond",
  "concurrency",
  "ttl",
  "retryBudget",
]);

/**
 * Reads `--queues <file>`: `{ "queues": [ { channel, behavior, ratePerSecond, concurrency?,
 * ttl, retryBudget? } ] }`. Everything that can be checked without the store is checked here,
 * before the command opens anything; `checkQueuedBehaviors` checks the names once it is open.
 */
export async function loadQueuesFile(file: string, cwd: string): Promise<QueuesFile> {
  const path = resolve(cwd, file);
  const value = await readJsonFile(path, "queues file");
  return { policies: parseQueuePolicies(value, path), path };
}

/** Refuses a policy naming a channel or behavior the store has no definition of. */
export async function checkQueuedBehaviors(
  definitions: DefinitionSource,
  { policies, path }: QueuesFile,
): Promise<void> {
  for (const [i, policy] of policies.entries()) {
    const where = `${path}: queues/${i}`;
    if ((await definitions.getChannel(policy.channel)) === undefined) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${where} names channel "${policy.channel}", which is not in the store: push its definitions first or fix the name`,
      );
    }
    if ((await definitions.getBehavior(policy.channel, policy.behavior)) === undefined) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${where} names behavior "${policy.behavior}" of channel "${policy.channel}", which is not in the store: push it first or fix the name`,
      );
    }
  }
}

function parseQueuePolicies(value: unknown, path: string): QueuePolicy[] {
  const fail = (what: string): never => {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${path}: ${what} (see docs/protection.md, "Peak shaving")`,
    );
  };
  const root = value as { queues?: unknown } | null;
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    fail('write an object: { "queues": [ … ] }');
  }
  const unknownRoot = Object.keys(root as object).filter((name) => name !== "queues");
  if (unknownRoot.length > 0) fail(`unknown field "${unknownRoot[0]}"; the file holds "queues"`);
  const list = root?.queues;
  if (!Array.isArray(list) || list.length === 0) {
    fail('"queues" must be a list of at least one queue policy');
  }
  const seen = new Set<string>();
  return (list as unknown[]).map((entry, i) => {
    const at = `queues/${i}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail(`${at} must be an object with channel, behavior, ratePerSecond and ttl`);
    }
    const policy = entry as Record<string, unknown>;
    const unknown = Object.keys(policy).filter((name) => !fields.has(name));
    if (unknown.length > 0) {
      fail(`${at} has an unknown field "${unknown[0]}"; allowed: ${[...fields].join(", ")}`);
    }
    for (const name of ["channel", "behavior"] as const) {
      if (typeof policy[name] !== "string" || policy[name] === "") {
        fail(`${at}/${name} must be the ${name} code as in its definition`);
      }
    }
    const { channel, behavior } = policy as { channel: string; behavior: string };
    const key = `${channel}/${behavior}`;
    if (seen.has(key)) fail(`${at} queues ${key} a second time; keep one policy per behavior`);
    seen.add(key);
    const rate = policy.ratePerSecond;
    if (typeof rate !== "number" || !Number.isFinite(rate) || rate <= 0) {
      fail(
        `${at}/ratePerSecond must be a number above 0 (starts admitted per second, e.g. 20 or 0.5)`,
      );
    }
    const wholeAboveZero = (name: "concurrency" | "retryBudget", meaning: string) => {
      const count = policy[name];
      if (count === undefined) return undefined;
      if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
        fail(`${at}/${name} must be a whole number of 1 or more (${meaning})`);
      }
      return count as number;
    };
    const concurrency = wholeAboveZero("concurrency", "unsettled instances at most");
    const retryBudget = wholeAboveZero("retryBudget", "start attempts before giving up");
    const ttl = policy.ttl;
    let ttlMs = 0;
    try {
      ttlMs = typeof ttl === "string" ? parseDuration(ttl as Duration) : 0;
    } catch {
      ttlMs = 0;
    }
    if (ttlMs <= 0) {
      fail(
        `${at}/ttl must be how long a start may wait, such as "90s", "2m" or "1h" (got ${JSON.stringify(ttl)})`,
      );
    }
    return {
      channel,
      behavior,
      ratePerSecond: rate as number,
      ttl: ttl as Duration,
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(retryBudget === undefined ? {} : { retryBudget }),
    };
  });
}
