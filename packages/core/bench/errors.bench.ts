import { Bench } from "tinybench";
import { CapflowError } from "../src/errors.ts";

/** Placeholder so `pnpm bench` has something to run while the hot paths land. */
export default function errorsBench(): Bench {
  const bench = new Bench({ time: 200 });
  bench.add("new CapflowError", () => {
    new CapflowError("STORE_CONFLICT", "lost ownership");
  });
  bench.add("new Error (baseline)", () => {
    new Error("lost ownership");
  });
  return bench;
}
