import { accountCrypto } from "./account-definition.ts";
import type { Problem } from "./problem.ts";
import type { ChannelDefinition, CryptoDefinition } from "./types.ts";

/**
 * A callback's status table settles money, so its notifications must prove they come from the
 * funder. A channel whose callbacks are opened with no crypto (`plain`), or by the `configurable`
 * handler without a callback signature (and without a shared-key AEAD that would authenticate
 * them), accepts a notification anyone can write. A warning, not an error: a funder may
 * authenticate at the transport (mutual TLS at the ingress, a private line), which a definition
 * cannot show. Handlers of one's own are not looked into.
 */
export function checkCallbackVerification(channel: ChannelDefinition, file: string): Problem[] {
  const callbacks = Object.keys(channel.callbacks ?? {});
  if (callbacks.length === 0) return [];
  const names = callbacks.map((name) => `"${name}"`).join(", ");
  const problems: Problem[] = [];
  const check = (crypto: CryptoDefinition, at: string, who: string) => {
    const why = unverifiedBecause(crypto);
    if (why === undefined) return;
    problems.push({
      code: "callback-unverified",
      file,
      pointer: why.pointer === "" ? `${at}` : `${at}${why.pointer}`,
      severity: "warning",
      message: `${who}callbacks ${names} are opened ${why.text}: anyone who can reach the callback URL can post a notification that settles an instance. Have the funder sign its callbacks and verify them (crypto.options.callback.signature with the funder's key in keys.verifying), or make sure the transport authenticates the funder`,
    });
  };
  check(channel.crypto, "/crypto", "");
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    if (account.crypto === undefined) continue;
    // An account that leaves the callback profile as the channel's has nothing new to say.
    const options = account.crypto.options ?? {};
    if (!Object.hasOwn(options, "callback")) continue;
    check(accountCrypto(channel, account), `/accounts/${code}/crypto`, `with account "${code}", `);
  }
  return problems;
}

function unverifiedBecause(
  crypto: CryptoDefinition,
): { pointer: string; text: string } | undefined {
  if (crypto.handler === "plain")
    return { pointer: "/handler", text: "with no crypto at all (handler plain)" };
  if (crypto.handler !== "configurable") return undefined;
  const options = crypto.options ?? {};
  if (options.role === "partner") return undefined;
  const callback = options.callback;
  if (!isObject(callback))
    return { pointer: "/options", text: "with no callback profile, so unsigned" };
  if (callback.signature !== undefined || authenticatedBySharedKey(callback)) return undefined;
  return { pointer: "/options/callback", text: "without a signature" };
}

/** A shared-key AEAD (a WeChat Pay APIv3 `resource`, or a shared GCM envelope) proves the sender. */
function authenticatedBySharedKey(profile: Record<string, unknown>): boolean {
  if (profile.resource !== undefined) return true;
  const encryption = profile.encryption;
  return (
    isObject(encryption) &&
    encryption.contentKey === "shared" &&
    typeof encryption.cipher === "string" &&
    encryption.cipher.endsWith("gcm")
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
