/**
 * Operators' API tokens, stored hashed: the token itself is shown once when it is made and never
 * kept, only its SHA-256 digest. `@capflow/server` makes and checks tokens; store-knex keeps them
 * (`operator_tokens`, migrations 0006, 0043 and 0047). Each token keeps who made it, when and why, and
 * who revoked it, when and why, and when it was last used: the listing is the tokens' audit trail.
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
  /**
   * Notes that an unrevoked token was just used, at most once a minute (the store's clock): true
   * when it wrote, false when the token is revoked, unknown or was noted less than a minute ago.
   */
  recordTokenUse(id: string): Promise<boolean>;
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
  /** The operator who made it (the machine's user name from the command line), or null. */
  createdBy: string | null;
  /** Why it was made (never the token itself). */
  createdReason: string;
}

export interface OperatorTokenRecord {
  id: string;
  name: string;
  role: OperatorRole;
  createdAt: number;
  createdBy: string | null;
  /** Why it was made; null for a token made before reasons were kept. */
  createdReason: string | null;
  revokedAt: number | null;
  revokedBy: string | null;
  /** Why it was revoked; null while it is not, or revoked before reasons were kept. */
  revokedReason: string | null;
  /** When it last authenticated a request, to the minute; null when never since this was kept. */
  lastUsedAt: number | null;
}

export interface RevokeTokenRequest {
  /** A token id, or the name of an unrevoked token. */
  idOrName: string;
  now: number;
  by: string | null;
  /** Why: kept with the revocation (a token revoked already keeps its first reason). */
  reason: string;
}
