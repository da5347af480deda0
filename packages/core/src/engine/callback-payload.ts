import type { Outcome } from "../definition/types.ts";

/** What the inbox keeps of an opened, verified callback: enough to route it later. */
export interface CallbackPayload {
  /**
   * The opened body with personal fields masked by the channel's `masking` rules, as step logs
   * keep it: what a route needs of a personal field, it reads from `fields` (extracted in clear).
   */
  body: unknown;
  headers: Record<string, string>;
  fields: Record<string, unknown>;
  outcome: Outcome;
  code: string;
  /** The body masked for step logs. */
  masked: unknown;
}
