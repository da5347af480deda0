import { type CachedQueries, CapflowError, type DefinitionSource, maskFields } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { refuseNulCharacters } from "../http/nul-characters.ts";
import {
  answer,
  checkAllowed,
  type IntakeCheckOptions,
  installIntakeChecks,
} from "./intake-checks.ts";

interface QueryRouteOptions extends IntakeCheckOptions {
  definitions: DefinitionSource;
  queries: CachedQueries;
  queryTimeoutMs?: number;
}

/**
 * Synchronous queries for upstream systems, `POST /v1/queries`: a behavior that declares a
 * `cache` (a repayment trial, a repayment plan, a credit limit) is run and answered with what it
 * extracted, or served from the cache every node shares. The same checks as starts, in the same
 * order (allow-list, body, signature, timestamp, nonce), then the client's `allow`. A run that
 * does not settle within `queryTimeoutMs` is answered 504 `QUERY_TIMEOUT`; it goes on, and its
 * answer is cached when it comes, so asking again calls the funder no more.
 */
export async function queryRoutes(app: FastifyInstance, options: QueryRouteOptions) {
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024;
  const timeoutMs = options.queryTimeoutMs ?? 10_000;
  const authenticated = installIntakeChecks(app, options);

  app.post("/", { bodyLimit }, async (request, reply) => {
    const { client, json } = authenticated(request);
    const query = readQueryRequest(json);
    refuseNulCharacters(json, "INSTANCE_INPUT_INVALID");
    checkAllowed(client, query);
    const behavior = await options.definitions.getBehavior(query.channel, query.behavior);
    if (behavior === undefined) {
      throw new CapflowError(
        "DEFINITION_NOT_FOUND",
        `no behavior ${query.channel}/${query.behavior}; check the channel and behavior codes`,
      );
    }
    if (behavior.definition.cache === undefined) {
      throw new CapflowError(
        "REQUEST_INVALID",
        `${query.channel}/${query.behavior} is not a query (it declares no "cache"); start it with POST /v1/instances`,
      );
    }
    const result = await options.queries.query(
      // The cached queries name the instance by cache key and lifetime; this key is not used.
      // Asked for the client: its own cache entries and runs, which other clients never see.
      { ...query, businessKey: "query", upstreamClient: client.id },
      { timeoutMs },
    );
    const channel = await options.definitions.getChannel(query.channel);
    const rules = {
      fields: {
        ...(channel?.definition.masking?.fields ?? {}),
        ...(behavior.definition.masking?.fields ?? {}),
      },
    };
    return answer(reply, {
      status: 200,
      body: {
        query: {
          channel: query.channel,
          behavior: query.behavior,
          outcome: result.value.status,
          result: maskFields(result.value.context, rules),
          cached: result.cached,
          instanceId: result.instanceId,
          expiresAt: new Date(result.expiresAt).toISOString(),
        },
      },
    });
  });
}

interface QueryBody {
  channel: string;
  behavior: string;
  input: Record<string, unknown>;
}

function readQueryRequest(json: unknown): QueryBody {
  const invalid = (message: string) => new CapflowError("REQUEST_INVALID", message);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid('send a JSON object: { "channel", "behavior", "input" }');
  }
  const body = json as Record<string, unknown>;
  const unknown = Object.keys(body).filter(
    (name) => name !== "channel" && name !== "behavior" && name !== "input",
  );
  if (unknown.length > 0) throw invalid(`unknown field "${unknown[0]}"; remove it`);
  const text = (name: string) => {
    const value = body[name];
    if (typeof value !== "string" || value.length === 0 || value.length > 64) {
      throw invalid(`"${name}" must be a string of 1 to 64 characters`);
    }
    return value;
  };
  const input = body.input;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw invalid('"input" must be a JSON object');
  }
  return {
    channel: text("channel"),
    behavior: text("behavior"),
    input: input as Record<string, unknown>,
  };
}
