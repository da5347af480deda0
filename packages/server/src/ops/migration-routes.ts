import { CapflowError, type Engine, type OperatorRole } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { roleAllows } from "../auth/operator.ts";
import { actorOf } from "./action-routes.ts";
import type { MigrationAnswer } from "./ops-answers.ts";
import { reasonRequired } from "./reason-check.ts";
import { reasonSchema } from "./request-schemas.ts";

interface MigrationBody {
  channel: string;
  behavior: string;
  from: number;
  to: number;
  map?: Record<string, string>;
  retryParked?: boolean;
  dryRun?: boolean;
  reason: string;
}

const code = { type: "string", minLength: 1, maxLength: 200 } as const;

const migrationBodySchema = {
  type: "object",
  required: ["channel", "behavior", "from", "to", "reason"],
  additionalProperties: false,
  properties: {
    channel: code,
    behavior: code,
    from: { type: "integer", minimum: 1 },
    to: { type: "integer", minimum: 1 },
    map: { type: "object", additionalProperties: code, maxProperties: 500 },
    retryParked: { type: "boolean" },
    dryRun: { type: "boolean" },
    reason: reasonSchema,
  },
} as const;

/**
 * `POST /migrations`: moves the unsettled instances of a behavior version to another version
 * (`Engine.migrateInstances`); `dryRun: true` reports what would move and moves nothing (viewer
 * role suffices for a dry run, an operator moves).
 *
 * A migration pages through every unsettled instance of the version, so one server runs one at a
 * time (another gets `MIGRATION_BUSY`), for at most `timeMs`, and stops when its client goes away:
 * a run stopped early answers `interrupted: true` and is resumed by running it again (nothing
 * moves twice). Otherwise any viewer could tie up the store's pool with dry runs.
 */
export async function migrationRoutes(
  app: FastifyInstance,
  options: { engine: Engine; timeMs: number },
) {
  let running = false;
  app.post<{ Body: MigrationBody }>(
    "/migrations",
    {
      config: { role: "viewer" },
      preValidation: reasonRequired("migrate instances"),
      schema: { body: migrationBodySchema },
    },
    async (request, reply): Promise<MigrationAnswer> => {
      const { reason: _reason, ...migration } = request.body;
      if (migration.dryRun !== true) requireOperator(request.operator?.role);
      if (running) {
        throw new CapflowError(
          "MIGRATION_BUSY",
          "another migration (a dry run or a move) is running on this server; ask again when it has answered",
        );
      }
      running = true;
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), options.timeMs);
      // The client went away before the answer: stop after the instances in hand.
      const onClose = () => {
        if (!reply.raw.writableFinished) stop.abort();
      };
      reply.raw.once("close", onClose);
      try {
        const report = await options.engine.migrateInstances(migration, actorOf(request), {
          signal: stop.signal,
        });
        return { report };
      } finally {
        running = false;
        clearTimeout(timer);
        reply.raw.off("close", onClose);
      }
    },
  );
}

function requireOperator(role: OperatorRole | undefined) {
  if (role === undefined || !roleAllows(role, "operator")) {
    throw new CapflowError(
      "AUTH_FORBIDDEN",
      "moving instances needs the operator role (a dry run needs only viewer)",
    );
  }
}
