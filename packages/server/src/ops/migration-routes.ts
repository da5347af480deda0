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
 */
export async function migrationRoutes(app: FastifyInstance, options: { engine: Engine }) {
  app.post<{ Body: MigrationBody }>(
    "/migrations",
    {
      config: { role: "viewer" },
      preValidation: reasonRequired("migrate instances"),
      schema: { body: migrationBodySchema },
    },
    async (request): Promise<MigrationAnswer> => {
      const { reason: _reason, ...migration } = request.body;
      if (migration.dryRun !== true) requireOperator(request.operator?.role);
      const report = await options.engine.migrateInstances(migration, actorOf(request));
      return { report };
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
