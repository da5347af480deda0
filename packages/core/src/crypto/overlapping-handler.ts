import { isCapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { CryptoHandler } from "./handler.ts";

/** Failures a message sealed under the previous keys would meet with the new ones. */
const keyFailures = ["CRYPTO_VERIFY_FAILED", "CRYPTO_DECRYPT_FAILED"] as const;

/**
 * A channel's handler right after its keys changed (future values taking effect): everything is
 * sealed with the new keys, and a message the new keys cannot open (a signature by the partner's
 * old key, a key wrapped for our old certificate) is tried with the previous keys until
 * `overlapUntil`, so notifications and answers in flight at the switch are not refused.
 */
export function withPreviousKeys(
  current: CryptoHandler,
  previous: CryptoHandler,
  overlapUntil: number,
  clock: Pick<Clock, "now">,
): CryptoHandler {
  const orPrevious = async <T>(open: (handler: CryptoHandler) => Promise<T>): Promise<T> => {
    try {
      return await open(current);
    } catch (error) {
      const keyFailure = keyFailures.some((code) => isCapflowError(error, code));
      if (!keyFailure || clock.now() >= overlapUntil) throw error;
      // The first failure is the one reported: the previous keys are only a fallback.
      return open(previous).catch(() => Promise.reject(error));
    }
  };
  return {
    sealRequest: (request) => current.sealRequest(request),
    openResponse: (response, request, codec) =>
      orPrevious((handler) => handler.openResponse(response, request, codec)),
    openRequest: (request, codec) => orPrevious((handler) => handler.openRequest(request, codec)),
    sealResponse: (response, request) => current.sealResponse(response, request),
  };
}
