import { CapflowError, type Duration } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { Command } from "commander";

export interface KeysCheckIntervalOptions {
  keysCheckInterval: string;
}

/**
 * `--keys-check-interval`: how often `capflow serve` and `capflow worker` look again at the stored
 * keys they checked at start (see `StoredKeysWatch`), so that what they report follows a push or a
 * key file put right without a restart.
 */
export function addKeysCheckIntervalOption(command: Command): Command {
  return command.option(
    "--keys-check-interval <duration>",
    "how often the stored keys are checked again while running: all of them once the definitions changed (a push), those that did not load each time (a key file put right)",
    "30s",
  );
}

export function keysCheckIntervalMs(options: KeysCheckIntervalOptions): number {
  const value = options.keysCheckInterval;
  let ms: number;
  try {
    ms = parseDuration(value as Duration);
  } catch {
    ms = Number.NaN;
  }
  if (!(ms >= 1_000)) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `--keys-check-interval takes a duration of at least 1s, such as 30s or 5m, not ${JSON.stringify(value)}`,
    );
  }
  return ms;
}
