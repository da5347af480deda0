import type { Outcome } from "../definition/types.ts";

/** What the inbox keeps of an opened, verified callback: enough to route it later. */
export interface CallbackPayload {
  body: unknown;
  headers: Record<string, string>;
  fields: Record<string, unknown>;
  outcome: Outcome;
  code: string;
  /** The body masked for step logs. */
  masked: unknown;
}
