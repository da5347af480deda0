import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { OpsClient } from "./api/client.ts";
import type { Operator } from "./api/types.ts";

/** The signed-in operator: the token lives in sessionStorage (this tab only, gone when it closes). */
export interface Session {
  client: OpsClient;
  operator: Operator;
}

const storageKey = "capflow.console.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(storageKey);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(storageKey);
  else sessionStorage.setItem(storageKey, token);
}

/** Checks a token with the server; the operator it names, or an error. */
export async function signIn(token: string): Promise<Session> {
  const client = new OpsClient(token);
  const operator = await client.whoami();
  return { client, operator };
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

export function canAct(operator: Operator): boolean {
  return operator.role === "operator" || operator.role === "admin";
}

/** Only admins manage tokens (the server's token routes need the admin role). */
export function canManageTokens(operator: Operator): boolean {
  return operator.role === "admin";
}
