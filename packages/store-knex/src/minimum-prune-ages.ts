import { CapflowError } from "@capflow/core";

const hour = 3_600_000;
const day = 24 * hour;

/**
 * The shortest age `pruneOperationalData` and `capflow prune` take per kind of row, in
 * milliseconds. A shorter one would delete rows the running system still reads; each floor's
 * reason is said in the refusal (and in docs/operations.md "Retention"). Frozen: a floor is not
 * something a caller lowers at runtime.
 */
export const minimumPruneAges = Object.freeze({
  notificationsOlderThanMs: 7 * day,
  inboxOlderThanMs: 7 * day,
  queuedStartsOlderThanMs: day,
  queryCacheOlderThanMs: 0,
} as const);

export type PruneAgeOption = keyof typeof minimumPruneAges;

const whyKept: Record<PruneAgeOption, string> = {
  notificationsOlderThanMs:
    "a failed notification waits for an operator to re-send it, and a delivered one is the record of what the upstream was told; a weekend or a holiday must not take either away",
  inboxOlderThanMs:
    "a processed callback is what recognises a funder's repeat of it as a duplicate, and funders repeat a notification whose acknowledgement they missed for hours to days",
  queuedStartsOlderThanMs:
    "the upstream reads a closed queued start back by business key after its notification (retried for about three hours), and a repeat within a day (the default Idempotency-Key lifetime) must be answered with its outcome, not queued again",
  queryCacheOlderThanMs: "",
};

/**
 * Returns `ms` when it is a prune age of `option`'s floor or more, else refuses it with
 * `CONFIG_INVALID` saying the floor and why. `name` is what the caller wrote (a CLI flag).
 */
export function checkPruneAge(option: PruneAgeOption, ms: number, name: string = option): number {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${name} must be a number of milliseconds of 0 or more, not ${ms}`,
      { context: { option: name } },
    );
  }
  const minimum = minimumPruneAges[option];
  if (ms < minimum) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${name} must be ${ageText(minimum)} or more, not ${ageText(ms)}: ${whyKept[option]}; give ${ageText(minimum)} or longer`,
      { context: { option: name, minimumMs: minimum } },
    );
  }
  return ms;
}

/** An age as an operator writes it (`7d`, `36h`, `0s`), else in milliseconds. */
function ageText(ms: number): string {
  if (ms === 0) return "0s";
  for (const [unit, size] of [
    ["d", day],
    ["h", hour],
    ["m", 60_000],
    ["s", 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms} ms`;
}
