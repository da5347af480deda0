import { CapflowError, type OperatorRole, operatorRoles } from "@capflow/core";
import { issueOperatorToken, revokeOperatorToken } from "@capflow/server";
import { Option } from "commander";
import type { CapflowCommand } from "../command.ts";
import { commandLineOperator, whoOptionHelp } from "../command-line-operator.ts";
import { iso, textTable } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface CreateOptions extends DatabaseOptions {
  name: string;
  role: OperatorRole;
  reason: string;
  who?: string;
  json?: boolean;
}

interface RevokeOptions extends DatabaseOptions {
  reason: string;
  who?: string;
  json?: boolean;
}

interface JsonOptions extends DatabaseOptions {
  json?: boolean;
}

/**
 * `capflow tokens`: operators' API tokens for the operator API (`capflow serve`). `create` prints
 * the token once (only its SHA-256 digest is stored); `list` shows names, roles, who made and
 * revoked each, when and why, and when each was last used (to the minute); `revoke` ends a token at its next request. Making and revoking take
 * a `--reason`, kept with `--who` or this machine's user name, as `cli:<name>`.
 */
export const tokensCommand: CapflowCommand = {
  name: "tokens",
  register(program, context) {
    const tokens = program
      .command("tokens")
      .description("operators' API tokens for the operator API: create, list, revoke");

    addDatabaseOptions(
      tokens
        .command("create")
        .description("make a token and print it once (only its digest is stored)")
        .requiredOption("--name <name>", "who or what uses it: recorded with every action taken")
        .addOption(
          new Option("--role <role>", "viewer reads, operator also acts, admin also manages tokens")
            .choices([...operatorRoles])
            .makeOptionMandatory(),
        )
        .requiredOption("--reason <text>", "why it is made: kept with the token and listed")
        .option("--who <name>", whoOptionHelp)
        .option("--json", "as JSON"),
    ).action((options: CreateOptions) =>
      withDatabase(options, context, async (db) => {
        const { token, record } = await issueOperatorToken(db.operatorTokens, {
          name: options.name,
          role: options.role,
          reason: options.reason,
          createdBy: commandLineOperator(options.who),
        });
        if (options.json) {
          context.out(
            `${JSON.stringify({ token, id: record.id, name: record.name, role: record.role })}\n`,
          );
          return;
        }
        context.out(`${token}\n`);
        context.err(
          `token ${record.id} for ${record.name} (${record.role}); shown this once: keep it in a secret store\n`,
        );
      }),
    );

    addDatabaseOptions(
      tokens
        .command("list")
        .description("every token, oldest first")
        .option("--json", "one JSON object per line"),
    ).action((options: JsonOptions) =>
      withDatabase(options, context, async (db) => {
        const records = await db.operatorTokens.listTokens();
        if (options.json) {
          for (const record of records) context.out(`${JSON.stringify(record)}\n`);
          return;
        }
        for (const line of textTable(
          ["id", "name", "role", "created", "by", "why", "revoked", "by", "why", "last used"],
          records.map((r) => [
            r.id,
            r.name,
            r.role,
            iso(r.createdAt),
            r.createdBy ?? "-",
            r.createdReason ?? "-",
            r.revokedAt === null ? "-" : iso(r.revokedAt),
            r.revokedBy ?? "-",
            r.revokedReason ?? "-",
            r.lastUsedAt === null ? "-" : iso(r.lastUsedAt),
          ]),
        )) {
          context.out(`${line}\n`);
        }
      }),
    );

    addDatabaseOptions(
      tokens
        .command("revoke")
        .description("revoke a token (by id, or the unrevoked one of a name)")
        .argument("<id-or-name>", "the token's id or name")
        .requiredOption("--reason <text>", "why it is revoked: kept with the token and listed")
        .option("--who <name>", whoOptionHelp)
        .option("--json", "as JSON"),
    ).action((idOrName: string, options: RevokeOptions) =>
      withDatabase(options, context, async (db) => {
        const record = await revokeOperatorToken(db.operatorTokens, {
          idOrName,
          by: commandLineOperator(options.who),
          reason: options.reason,
        });
        if (record === undefined) {
          throw new CapflowError(
            "REQUEST_NOT_FOUND",
            `no token ${idOrName}; see capflow tokens list`,
          );
        }
        if (options.json) context.out(`${JSON.stringify(record)}\n`);
        else context.out(`revoked ${record.id} (${record.name})\n`);
      }),
    );
  },
};
