/**
 * Smooth weighted round robin, the algorithm nginx's upstream module uses: on each pick every
 * candidate's current weight grows by its weight, the largest is picked and loses the total. With
 * weights 5, 1, 1 it picks a a b a c a a, spreading each candidate's share evenly over the cycle
 * (plain weighted round robin would pick a a a a a b c).
 *
 * nginx keeps the current weights in each worker's memory. Here the sequence is a pure function
 * of the weights, and a pick is the sequence's entry at a position drawn from a counter shared by
 * every node (`InstanceStore.nextRoutingPosition`): all nodes together follow the one sequence,
 * as one node would. Written by hand: it is twenty lines, and no maintained package offers it as
 * a pure "n-th pick" function.
 */

/** Sequences per weight list; weight lists are few (one per candidate set of a product). */
const sequences = new Map<string, number[]>();
const sequenceCacheLimit = 256;

/** The indexes of one full cycle of picks for these weights (its length is their sum / gcd). */
export function smoothWeightedSequence(weights: readonly number[]): number[] {
  const key = weights.join(",");
  const cached = sequences.get(key);
  if (cached) return cached;
  const divisor = weights.reduce(gcd, 0) || 1;
  const reduced = weights.map((weight) => weight / divisor);
  const total = reduced.reduce((sum, weight) => sum + weight, 0);
  const current = reduced.map(() => 0);
  const sequence: number[] = [];
  for (let pick = 0; pick < total; pick++) {
    let best = 0;
    for (let i = 0; i < reduced.length; i++) {
      current[i]! += reduced[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    sequence.push(best);
  }
  if (sequences.size >= sequenceCacheLimit) sequences.delete(sequences.keys().next().value!);
  sequences.set(key, sequence);
  return sequence;
}

/**
 * The candidates in the order to try them at `position` (1, 2, 3 …): first the smooth weighted
 * round robin pick among all, then the pick among the rest at the same position, and so on.
 */
export function weightedOrder<T extends { weight: number }>(
  candidates: readonly T[],
  position: number,
): T[] {
  const remaining = [...candidates];
  const order: T[] = [];
  while (remaining.length > 0) {
    const sequence = smoothWeightedSequence(remaining.map((candidate) => candidate.weight));
    const index = sequence[(Math.max(position, 1) - 1) % sequence.length]!;
    order.push(remaining.splice(index, 1)[0]!);
  }
  return order;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
