import {
  createEngine,
  type Engine,
  type HolidaySchedule,
  loadDefinitionsOrThrow,
  MemoryDefinitionSource,
  MemoryInstanceStore,
} from "@capflow/core";
import type { Extensions } from "./extension-modules.ts";
import { processCalendar } from "./holidays-option.ts";

/**
 * `capflow reconcile run` for a statement that comes through a channel's interface: an engine
 * over the channels of the definitions folder (their keys relative to it, as `capflow validate`
 * reads them), used only to call that interface; it starts no instance and stores nothing. Its
 * calendar has the schedules of `--holidays`, as the worker's does.
 */
export async function statementEngine(
  dir: string,
  extensions: Extensions,
  holidays: readonly HolidaySchedule[],
  warn: (message: string) => void,
): Promise<Engine> {
  const { channels, behaviors } = await loadDefinitionsOrThrow(dir, extensions);
  const definitions = new MemoryDefinitionSource({ channels, behaviors, baseDir: dir });
  return createEngine({
    store: new MemoryInstanceStore(),
    definitions,
    processors: extensions.processors,
    cryptoHandlers: extensions.cryptoHandlers,
    calendar: processCalendar(definitions, holidays, warn),
  });
}
