/**
 * Operators' API tokens, stored hashed: the token itself is shown once when it is made and never
 * kept, only its SHA-256 digest. `@capflow/server` makes and checks tokens; store-knex keeps them
 * (`operator_tokens`, migration 0006).
 */
export interface OperatorTokenStore {
  /** Stores a new token. Throws `STORE_UNIQUE_VIOLATION` when an unrevoked token has that name. */
  createToken(token: NewOperatorToken): Promise<OperatorTokenRecord>;
  /** The token with this digest, revoked or not; undefined when none. */
  findTokenByHash(tokenHash: string): Promise<OperatorTokenRecord | undefined>;
  /** Every token, oldest first (digests left out). */
  listTokens(): Promise<OperatorTokenRecord[]>;
  /**
   * Revokes the token with this id, or the unrevoked one with this name. Returns it, or undefined
   * when there is none (a token revoked already is returned as it is, unchanged).
   */
  revokeToken(request: RevokeTokenRequest): Promise<OperatorTokenRecord | undefined>;
}

/** What an operator may do: `viewer` reads, `operator` also acts on instances, `admin` also manages tokens. */
export type OperatorRole = "viewer" | "operator" | "admin";

export const operatorRoles: readonly OperatorRole[] = ["viewer", "operator", "admin"];

export interface NewOperatorToken {
  id: string;
  /** Who or what uses it (`alice`, `ci-deploy`): recorded in the history of every action taken with it. */
  name: string;
  role: OperatorRole;
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  createdAt: number;
  /** The operator who made it, or null when made from the command line. */
  createdBy: string | null;
}

export interface OperatorTokenRecord {
  id: string;
  name: string;
  role: OperatorRole;
  createdAt: number;
  createdBy: string | null;
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface RevokeTokenRequest {
  /** A token id, or the name of an unrevoked token. */
  idOrName: string;
  now: number;
  by: string | null;
}
