import { createHash } from "node:crypto";
import type { ChannelDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import { evaluateExpression } from "../message/cel.ts";
import type { AccountRule } from "../ports/routing.ts";

export interface AccountChoice {
  code: string;
  rule: AccountRule;
  /** Accounts the rule would have taken before this one, passed over, and why. */
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
 * concurrency limit while another is free. Returns `"full"` when every candidate's quota is full.
 * Throws `INSTANCE_INPUT_INVALID` when no account's `when` holds.
 */
export function chooseAccount(
  channel: ChannelDefinition,
  input: Record<string, unknown>,
  history: { lastAccount: string | null | undefined; spreadKey: string },
  avoid: AccountAvoidance = {},
): AccountChoice | "full" | undefined {
  const accounts = Object.entries(channel.accounts ?? {});
  if (accounts.length === 0) return undefined;
  const eligible = accounts
    .filter(([code, account]) => {
      if (account.when === undefined) return true;
      return (
        evaluateExpression(account.when, { input }, { channel: channel.code, account: code }) ===
        true
      );
    })
    .map(([code]) => code);
  if (eligible.length === 0) {
    throw new CapflowError(
      "INSTANCE_INPUT_INVALID",
      `no account of channel ${channel.code} serves this input (every account's "when" is false); fix the input or the accounts' conditions`,
      { context: { channel: channel.code } },
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
  const skipped = order.slice(0, order.indexOf(chosen)).map((account) => ({
    account,
    reason: avoid.full?.has(account) ? "quota full" : "at its concurrency or rate limit",
  }));
  return { code: chosen, rule, ...(skipped.length > 0 ? { skipped } : {}) };
}
