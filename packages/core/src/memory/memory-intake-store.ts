import type {
  IdempotencyClaim,
  IdempotencyState,
  IntakeStore,
  StoredAnswer,
} from "../ports/intake-store.ts";

interface KeyEntry {
  bodyDigest: string;
  claimedAt: number;
  expiresAt: number;
  answer?: StoredAnswer;
}

/** The intake's nonces and idempotency keys in memory: one process, tests, the embedded mode. */
export class MemoryIntakeStore implements IntakeStore {
  readonly #nonces = new Map<string, number>();
  readonly #keys = new Map<string, KeyEntry>();

  async useNonce(client: string, nonce: string, expiresAt: number, now: number) {
    const id = `${client}\u0000${nonce}`;
    const until = this.#nonces.get(id);
    if (until !== undefined && until > now) return false;
    this.#nonces.set(id, expiresAt);
    return true;
  }

  async claimKey(request: IdempotencyClaim): Promise<IdempotencyState> {
    const id = `${request.client}\u0000${request.key}`;
    const entry = this.#keys.get(id);
    const abandoned =
      entry?.answer === undefined && entry !== undefined && entry.claimedAt <= request.now - 60_000;
    if (entry === undefined || entry.expiresAt <= request.now || abandoned) {
      this.#keys.set(id, {
        bodyDigest: request.bodyDigest,
        claimedAt: request.now,
        expiresAt: request.expiresAt,
      });
      return { state: "claimed" };
    }
    return entry.answer === undefined
      ? { state: "pending", bodyDigest: entry.bodyDigest }
      : {
          state: "answered",
          bodyDigest: entry.bodyDigest,
          answer: JSON.parse(JSON.stringify(entry.answer)) as StoredAnswer,
        };
  }

  async saveAnswer(client: string, key: string, answer: StoredAnswer): Promise<void> {
    const entry = this.#keys.get(`${client}\u0000${key}`);
    if (entry !== undefined) entry.answer = JSON.parse(JSON.stringify(answer)) as StoredAnswer;
  }

  async releaseKey(client: string, key: string): Promise<void> {
    const id = `${client}\u0000${key}`;
    if (this.#keys.get(id)?.answer === undefined) this.#keys.delete(id);
  }

  async purgeExpired(now: number): Promise<number> {
    let purged = 0;
    for (const [id, until] of this.#nonces) {
      if (until <= now && this.#nonces.delete(id)) purged++;
    }
    for (const [id, entry] of this.#keys) {
      if (entry.expiresAt <= now && this.#keys.delete(id)) purged++;
    }
    return purged;
  }
}
