import { stat } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Runs `start` in an I/O callback, that is in the event loop's poll phase, whose check phase
 * (setImmediate) comes next: thread-pool results are only delivered in a later poll phase, so
 * an immediate scheduled here runs before any of them, while work done synchronously in `start`
 * (and the promises it settles) is complete before it.
 */
export function inPollPhase<T>(start: () => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    stat(fileURLToPath(import.meta.url), () => start().then(resolve, reject));
  });
}

/**
 * Starts `tasks` together in the poll phase with an immediate scheduled first, and tells whether
 * the immediate ran before the first of them was done (`thread-pool`: their work was handed off)
 * or after all of them (`event-loop`: done synchronously in the poll phase).
 */
export async function wherePromisesRan(
  tasks: readonly (() => Promise<unknown>)[],
): Promise<"thread-pool" | "event-loop" | "mixed"> {
  const order: string[] = [];
  let immediateRan: Promise<void> = Promise.resolve();
  await inPollPhase(() => {
    immediateRan = new Promise((resolve) =>
      setImmediate(() => {
        order.push("immediate");
        resolve();
      }),
    );
    return Promise.all(tasks.map((task) => task().then(() => order.push("done"))));
  });
  await immediateRan;
  if (order[0] === "immediate") return "thread-pool";
  if (order.at(-1) === "immediate") return "event-loop";
  return "mixed";
}
