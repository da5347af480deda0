import type { OperatorRole } from "@capflow/core";
import type { FastifyRequest } from "fastify";

/** The person or system behind an operator API request, as authenticated. */
export interface Operator {
  /** Recorded as `who` in the history of every action they take. */
  name: string;
  role: OperatorRole;
  /** `token`: a built-in API token; `host`: the host's own authentication (`authenticate` hook). */
  via: "token" | "host";
}

/**
 * The host's own authentication (an SSO reverse proxy's headers, a session of the host's app): the
 * operator the request is from, or undefined to fall back to capflow's API tokens. Throw a
 * `CapflowError` `AUTH_REQUIRED` to refuse the request outright.
 */
export type OperatorAuthenticator = (
  request: FastifyRequest,
) => Operator | undefined | Promise<Operator | undefined>;

const rank: Record<OperatorRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** `admin` may do what `operator` may, which may do what `viewer` may. */
export function roleAllows(role: OperatorRole, needed: OperatorRole): boolean {
  return rank[role] >= rank[needed];
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set on operator API requests once authenticated. */
    operator: Operator | null;
  }
  interface FastifyContextConfig {
    /** The least role an operator API route needs. */
    role?: OperatorRole;
  }
}
