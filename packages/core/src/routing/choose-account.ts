import { createHash } from "node:crypto";
import type { ChannelDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import { evaluateExpression } from "../message/cel.ts";
import type { AccountRule } from "../ports/routing.ts";

export interface AccountChoice {
  code: string;
  rule: AccountRule;
}

/**
 * The account of a channel a new instance uses for life, or undefined when the channel has none.
 * Candidates are the accounts whose `when` holds, in declaration order; `first-match` takes the
 * first, `alternate` the one after the customer's last account on this channel (or, for a
 * customer new to it, one spread by a hash of the customer, else of the business key). Throws
 * `INSTANCE_INPUT_INVALID` when no account's `when` holds.
 */
export function chooseAccount(
  channel: ChannelDefinition,
  input: Record<string, unknown>,
  history: { lastAccount: string | null | undefined; spreadKey: string },
): AccountChoice | undefined {
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
  if (rule === "first-match") return { code: eligible[0]!, rule };
  const last =
    history.lastAccount === null || history.lastAccount === undefined
      ? -1
      : eligible.indexOf(history.lastAccount);
  const index =
    last >= 0
      ? (last + 1) % eligible.length
      : createHash("sha256").update(history.spreadKey).digest().readUInt32BE(0) % eligible.length;
  return { code: eligible[index]!, rule };
}
