import { posix, resolve, sep } from "node:path";
import {
  createDefaultSecretResolver,
  formatProblems,
  isError,
  type LoadDefinitionsOptions,
  loadDefinitions,
  systemClock,
} from "@capflow/core";
import { sortProblems } from "@capflow/core/internal";
import { loadStatements } from "@capflow/reconcile";
import type { CapflowCommand } from "../command.ts";
import { expiryWarning } from "../expiry-warning.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { plural } from "../plural.ts";

interface ValidateOptions extends ExtensionOptions {
  json?: boolean;
  /** `--no-registries` sets it to false. */
  registries: boolean;
  checkSecrets?: boolean;
  keysDir?: string;
  expiryWarning?: string;
}

/** `capflow validate <dir>`: loads and checks every definition under a folder. */
export const validateCommand: CapflowCommand = {
  name: "validate",
  register(program, context) {
    program
      .command("validate")
      .description(
        "check every *.channel.json, *.behavior.json, *.product.json, *.client.json and *.statement.json under a folder; exit 1 when there are problems",
      )
      .argument("<dir>", "folder of definitions")
      .option("-p, --processors <module...>", processorsOptionHelp)
      .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
      .option(
        "--no-registries",
        "skip the checks of processor names and crypto handlers (built-in ones and the modules')",
      )
      .option(
        "--check-secrets",
        "also load every channel's keys and certificates as a worker would, and every upstream client's key as the intake would (push does by default); warn about certificates expiring within 30 days, a client's key given as a certificate too",
      )
      .option(
        "--expiry-warning <duration>",
        "with --check-secrets: warn about certificates expiring within this time (e.g. 60d; default 30d)",
      )
      .option(
        "--keys-dir <dir>",
        "with --check-secrets: folder relative `file:` references resolve against (default: the definitions folder)",
      )
      .option("--json", "print the problems as JSON (for editors and CI annotations)")
      .action(async (dir: string, options: ValidateOptions) => {
        const checks: LoadDefinitionsOptions = {};
        if (options.registries || options.checkSecrets) {
          const extensions = await loadExtensions(options, context.cwd);
          if (options.registries) Object.assign(checks, extensions);
          if (options.checkSecrets) {
            checks.checkSecrets = {
              cryptoHandlers: extensions.cryptoHandlers,
              secrets: createDefaultSecretResolver(),
              baseDir: resolve(context.cwd, options.keysDir ?? dir),
              clock: systemClock,
              ...(options.expiryWarning === undefined
                ? {}
                : { expiryWarning: expiryWarning(options.expiryWarning) }),
            };
          }
        }
        const loaded = await loadDefinitions(resolve(context.cwd, dir), checks);
        // Statements (`*.statement.json`) live next to the definitions they reconcile.
        const statements = await loadStatements(resolve(context.cwd, dir), { definitions: loaded });
        // Paths as the user typed them, so terminals and editors can open `file:line:col`.
        const problems = sortProblems([...loaded.problems, ...statements.problems]).map(
          (problem) => ({
            ...problem,
            file: posix.join(dir.split(sep).join("/"), problem.file),
          }),
        );
        if (options.json === true) {
          context.out(`${JSON.stringify(problems, null, 2)}\n`);
        } else if (problems.some(isError)) {
          context.out(formatProblems(problems));
        } else {
          if (problems.length > 0) context.out(formatProblems(problems));
          context.out(
            `${plural(loaded.channels.length, "channel")}, ${plural(loaded.behaviors.length, "behavior")}${loaded.products.length > 0 ? `, ${plural(loaded.products.length, "product")}` : ""}${loaded.clients.length > 0 ? `, ${plural(loaded.clients.length, "client")}` : ""}${statements.statements.length > 0 ? `, ${plural(statements.statements.length, "statement")}` : ""}, ${problems.length > 0 ? "no errors" : "no problems"}\n`,
          );
        }
        if (problems.some(isError)) context.setExitCode(1);
      });
  },
};
