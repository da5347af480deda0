/**
 * A bounded number of calls in flight per channel in this worker. When it is full the caller is
 * told to come back later instead of waiting in a queue: a waiting call would keep its worker slot,
 * so one slow channel could take every slot of the worker and starve the others. Refusing lets
 * the engine delay the step and give the slot to another channel's work.
 */
export class Bulkhead {
  readonly #inFlight = new Map<string, number>();
  /** Each channel's capacity as last asked for (definitions may change it). */
  readonly #capacity = new Map<string, number>();

  /** Takes a slot for `channel` if fewer than `capacity` are taken; returns whether it did. */
  tryEnter(channel: string, capacity: number): boolean {
    this.#capacity.set(channel, capacity);
    const taken = this.#inFlight.get(channel) ?? 0;
    if (taken >= capacity) return false;
    this.#inFlight.set(channel, taken + 1);
    return true;
  }

  /** Gives back one slot of `channel`. Callers release each slot they took exactly once. */
  leave(channel: string): void {
    const taken = this.#inFlight.get(channel) ?? 0;
    if (taken <= 1) this.#inFlight.delete(channel);
    else this.#inFlight.set(channel, taken - 1);
  }

  /** Calls in flight to `channel` now. */
  inFlight(channel: string): number {
    return this.#inFlight.get(channel) ?? 0;
  }

  /** Channels with every slot taken now: a call to one of them would be refused. */
  full(): string[] {
    const full: string[] = [];
    for (const [channel, taken] of this.#inFlight) {
      if (taken >= (this.#capacity.get(channel) ?? Number.POSITIVE_INFINITY)) full.push(channel);
    }
    return full;
  }
}
