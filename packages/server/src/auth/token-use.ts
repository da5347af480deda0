import type { OperatorTokenStore } from "@capflow/core";
import type { FastifyBaseLogger } from "fastify";

/** A token's use is written at most this often from one process (the store bounds it too). */
export const tokenUseInterval = 60_000;

/**
 * Notes each token's use in the store without the request waiting for it: at most one write per
 * token a minute from this process (an in-memory "last written" per token id), and a write that
 * fails is logged, never the request's failure. Tokens are few, so the map stays small.
 */
export function tokenUseRecorder(store: OperatorTokenStore, now: () => number = Date.now) {
  const lastWritten = new Map<string, number>();
  return (tokenId: string, log: FastifyBaseLogger): void => {
    const at = now();
    const last = lastWritten.get(tokenId);
    if (last !== undefined && at - last < tokenUseInterval) return;
    lastWritten.set(tokenId, at);
    store.recordTokenUse(tokenId).catch((error: unknown) => {
      log.warn(
        { tokenId, err: error instanceof Error ? { message: error.message } : String(error) },
        "could not record the operator token's last use; the request went on",
      );
    });
  };
}
