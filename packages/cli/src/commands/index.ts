import type { CapflowCommand } from "../command.ts";
import { channelsCommand } from "./channels.ts";
import { diffCommand } from "./diff.ts";
import { graphCommand } from "./graph.ts";
import { inboxCommand } from "./inbox.ts";
import { instancesCommand } from "./instances.ts";
import { migrateCommand } from "./migrate.ts";
import { previewCommand } from "./preview.ts";
import { pruneCommand } from "./prune.ts";
import { pullCommand } from "./pull.ts";
import { pushCommand } from "./push.ts";
import { rawCommand } from "./raw.ts";
import { reconcileCommand } from "./reconcile.ts";
import { serveCommand } from "./serve.ts";
import { tokensCommand } from "./tokens.ts";
import { validateCommand } from "./validate.ts";
import { workerCommand } from "./worker.ts";

/** Every built-in command, in the order `capflow --help` lists them. Add new commands here. */
export const builtInCommands: readonly CapflowCommand[] = [
  validateCommand,
  graphCommand,
  previewCommand,
  diffCommand,
  pushCommand,
  pullCommand,
  migrateCommand,
  workerCommand,
  serveCommand,
  tokensCommand,
  instancesCommand,
  channelsCommand,
  inboxCommand,
  rawCommand,
  reconcileCommand,
  pruneCommand,
];
