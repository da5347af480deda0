/**
 * What the intake API of `capflow serve` remembers about signed requests from upstream clients:
 * the nonces each client used (so a captured request cannot be sent again) and the answers given
 * to each `Idempotency-Key` (so a repeat gets the same answer). Times are epoch milliseconds.
 */
export interface IntakeStore {
  /**
   * Records that `client` used `nonce`, until `expiresAt`. Returns false, recording nothing, when
   * the nonce was used before and has not expired: the request is a replay.
   */
  useNonce(client: string, nonce: string, expiresAt: number, now: number): Promise<boolean>;
  /**
   * Takes an idempotency key for a request whose body has `bodyDigest`. `claimed`: the caller
   * answers the request and then calls {@link saveAnswer} (or {@link releaseKey} when it stored
   * nothing); `answered`: a request with this key was answered before, replay that answer (when
   * the digest is the same); `pending`: a request with this key is being answered right now.
   * An expired key is taken as if new, and so is a key pending for over a minute (the request
   * answering it died with its node).
   */
  claimKey(request: IdempotencyClaim): Promise<IdempotencyState>;
  /** Stores the answer to a claimed key, replayed to every repeat until the key expires. */
  saveAnswer(client: string, key: string, answer: StoredAnswer): Promise<void>;
  /** Gives a claimed key back unanswered (nothing happened): the next request with it runs anew. */
  releaseKey(client: string, key: string): Promise<void>;
  /** Deletes expired nonces and keys; returns how many rows went. */
  purgeExpired(now: number): Promise<number>;
}

export interface IdempotencyClaim {
  client: string;
  key: string;
  bodyDigest: string;
  expiresAt: number;
  now: number;
}

export type IdempotencyState =
  | { state: "claimed" }
  | { state: "answered"; bodyDigest: string; answer: StoredAnswer }
  | { state: "pending"; bodyDigest: string };

/** An answer as it was sent: the HTTP status and the JSON body. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}
