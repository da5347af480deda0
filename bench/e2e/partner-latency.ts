/**
 * The bench funder's partner-latency profile: how long a funder's gateway takes to answer, drawn
 * from a log-normal distribution with a median of 30 ms and a p99 of 300 ms (σ = ln(10) / 2.326
 * ≈ 0.99, mean ≈ 49 ms), capped at 1.5 s. That is a moderate gateway: most answers in tens of
 * milliseconds, one in a hundred a few hundred, rarely more than a second.
 *
 * The latency is a function of the job's position `i` alone (its business number ends in `-<i>`,
 * see work.ts), drawn with a seeded PRNG, so job i of capflow's round and job i of the
 * reference's round wait exactly as long, and every round sees the same sequence.
 */

const medianMs = 30;
const p99Ms = 300;
const capMs = 1_500;
/** z of the 99th percentile of the standard normal distribution. */
const z99 = 2.326_347_9;
const sigma = Math.log(p99Ms / medianMs) / z99;
const seed = 0x5eed_ca9f;

/** mulberry32: a small, well-known 32-bit PRNG; seeded per position, so draws do not depend on order. */
function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The answer delay of the job at position `i`, in milliseconds. */
export function partnerLatencyMs(i: number): number {
  const random = mulberry32(seed ^ Math.imul(i + 1, 0x9e37_79b1));
  // Box–Muller: two uniforms in (0, 1] and [0, 1) give one standard normal draw.
  const u1 = 1 - random();
  const u2 = random();
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.min(capMs, medianMs * Math.exp(sigma * z));
}

/** The position in a business number such as `CRSA envelope-0-17` (17), or undefined. */
export function positionOf(businessNumber: string): number | undefined {
  const match = /-(\d+)$/.exec(businessNumber);
  return match ? Number(match[1]) : undefined;
}
