import { apply as applyMergePatch } from "json-merge-patch";
import type { AccountDefinition, ChannelDefinition, CryptoDefinition } from "./types.ts";

/**
 * The crypto options an account runs with: its JSON merge patch (RFC 7386) over the channel's
 * options, so an account writes only its keys and ids. `json-merge-patch` mutates its target:
 * both sides are copied first.
 */
export function accountCryptoOptions(
  channel: ChannelDefinition,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  return applyMergePatch(structuredClone(channel.crypto.options ?? {}), structuredClone(patch));
}

/** The channel's crypto definition as the account uses it. */
export function accountCrypto(
  channel: ChannelDefinition,
  account: AccountDefinition,
): CryptoDefinition {
  if (account.crypto === undefined) return channel.crypto;
  return {
    handler: channel.crypto.handler,
    options: accountCryptoOptions(channel, account.crypto.options),
  };
}
