import { CapflowError } from "../errors.ts";
import type { EngineCore } from "./engine-core.ts";
import {
  type RawExchangeMessages,
  type RawMessageKind,
  type RawNotification,
  rawMessageKeyHelp,
  type SealedRawMessage,
} from "./raw-message-keyring.ts";

/**
 * A raw message as the store keeps it: encrypted with the engine's current key. Without a key it
 * throws rather than let the message reach the store in clear (the engine refuses such settings
 * up front; this is the last line).
 */
export function sealRawMessage(
  core: Pick<EngineCore, "rawMessageKeys">,
  message: RawExchangeMessages | RawNotification,
  kind: RawMessageKind,
): SealedRawMessage {
  if (core.rawMessageKeys === undefined)
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `a raw message is to be kept but no key encrypts it: ${rawMessageKeyHelp}`,
    );
  return core.rawMessageKeys.seal(message, kind);
}
