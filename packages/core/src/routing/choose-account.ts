import { createHash } from "node:crypto";
import type { ChannelDefinition } from "../definition/types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { celSummary, evaluateExpression } from "../message/cel.ts";
import type { AccountRule } from "../ports/routing.ts";

export interface AccountChoice {
  code: string;
  rule: AccountRule;
  /**
   * Accounts passed over, and why: those whose condition could not be evaluated on this input,
   * then those the rule would have taken before this one (quota full, at their call limit).
   */
  skipped?: { account: string; reason: string }[];
}

/** Accounts to pass over: full ones are never chosen, busy ones only when every other is too. */
export interface AccountAvoidance {
  /** Accounts whose quota refused this start (`account:<channel>/<account>/<behavior>`). */
  full?: ReadonlySet<string>;
  /** Whether an account's own concurrency or rate limit refused a call just now, in this worker. */
  busy?: (account: string) => boolean;
}

/**
 * The account of a channel a new instance uses for life, or undefined when the channel has none.
 * Candidates are the accounts whose `when` holds, in declaration order; `first-match` takes the
 * first, `alternate` the one after the customer's last account on this channel (or, for a
 * customer new to it, one spread by a hash of the customer, else of the business key). From
 * there, accounts whose quota is full are passed over, and so are accounts at their own rate or
 * concurrency limit while another is free. An account whose `when` cannot be evaluated on this
 * input (a field of the wrong type: CEL refuses `"A" > 1`) is passed over like one whose `when` is
 * false, and recorded in `skipped` with the reason. Returns `"full"` when every candidate's quota
 * is full. Throws `INSTANCE_INPUT_INVALID` when no account's `when` holds, with each failed
 * condition's reason.
 */
export function chooseAccount(
  channel: ChannelDefinition,
  input: Record<string, unknown>,
  history: { lastAccount: string | null | undefined; spreadKey: string },
  avoid: AccountAvoidance = {},
): AccountChoice | "full" | undefined {
  const accounts = Object.entries(channel.accounts ?? {});
  if (accounts.length === 0) return undefined;
  const eligible: string[] = [];
  // Accounts whose condition could not be evaluated on this input: passed over, with the reason.
  const failed: { account: string; reason: string }[] = [];
  for (const [code, account] of accounts) {
    if (account.when === undefined) {
      eligible.push(code);
      continue;
    }
    try {
      const holds = evaluateExpression(
        account.when,
        { input },
        { channel: channel.code, account: code },
      );
      if (holds === true) eligible.push(code);
    } catch (error) {
      if (!isCapflowError(error, "EXTRACT_FAILED")) throw error;
      failed.push({ account: code, reason: conditionFailed(account.when, error) });
    }
  }
  if (eligible.length === 0) {
    const why =
      failed.length === 0
        ? `every account's "when" is false`
        : `${failed.map((f) => `${f.account}: ${f.reason}`).join("; ")}${failed.length < accounts.length ? `; every other account's "when" is false` : ""}`;
    throw new CapflowError(
      "INSTANCE_INPUT_INVALID",
      `no account of channel ${channel.code} serves this input (${why}); fix the input or the accounts' conditions`,
      { context: { channel: channel.code, ...(failed.length > 0 ? { accounts: failed } : {}) } },
    );
  }
  const rule = channel.accountSelection ?? "first-match";
  let first = 0;
  if (rule === "alternate") {
    const last =
      history.lastAccount === null || history.lastAccount === undefined
        ? -1
        : eligible.indexOf(history.lastAccount);
    first =
      last >= 0
        ? (last + 1) % eligible.length
        : createHash("sha256").update(history.spreadKey).digest().readUInt32BE(0) % eligible.length;
  }
  // The rule's order: its pick first, then the ones after it, wrapping around.
  const order = eligible.map((_, i) => eligible[(first + i) % eligible.length]!);
  const open = order.filter((code) => avoid.full?.has(code) !== true);
  if (open.length === 0) return "full";
  const chosen = open.find((code) => avoid.busy?.(code) !== true) ?? open[0]!;
  const skipped = [
    ...failed,
    ...order.slice(0, order.indexOf(chosen)).map((account) => ({
      account,
      reason: avoid.full?.has(account) ? "quota full" : "at its concurrency or rate limit",
    })),
  ];
  return { code: chosen, rule, ...(skipped.length > 0 ? { skipped } : {}) };
}

/** Why an account's condition refused to evaluate on this input (types, never the values). */
function conditionFailed(when: string, error: CapflowError): string {
  const cause = error.cause === undefined ? error.message : celSummary(error.cause);
  return `its when ${when} cannot be evaluated on this input (${cause})`;
}
