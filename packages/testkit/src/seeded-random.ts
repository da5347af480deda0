/**
 * A small seeded pseudo-random generator, so that probabilistic faults replay identically run after
 * run: a failing test prints its seed, and the same seed reproduces the same faults on the same
 * sequence of calls. Not for cryptography.
 */
export type RandomSource = () => number;

/** mulberry32: 32 bits of state, fast, and good enough to decide "does this call fail?". */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A seed derived from a base seed and a name (FNV-1a), so that each endpoint draws from its own
 * stream: calls to one endpoint do not shift the faults another endpoint sees, which keeps runs
 * reproducible even when endpoints are called concurrently.
 */
export function deriveSeed(seed: number, name: string): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let index = 0; index < name.length; index++) {
    hash ^= name.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
