import {
  createEngine,
  type Engine,
  loadDefinitionsOrThrow,
  MemoryDefinitionSource,
  MemoryInstanceStore,
} from "@capflow/core";
import type { Extensions } from "./extension-modules.ts";

/**
 * `capflow reconcile run` for a statement that comes through a channel's interface: an engine
 * over the channels of the definitions folder (their keys relative to it, as `capflow validate`
 * reads them), used only to call that interface; it starts no instance and stores nothing.
 */
export async function statementEngine(dir: string, extensions: Extensions): Promise<Engine> {
  const { channels, behaviors } = await loadDefinitionsOrThrow(dir, extensions);
  return createEngine({
    store: new MemoryInstanceStore(),
    definitions: new MemoryDefinitionSource({ channels, behaviors, baseDir: dir }),
    processors: extensions.processors,
    cryptoHandlers: extensions.cryptoHandlers,
  });
}
