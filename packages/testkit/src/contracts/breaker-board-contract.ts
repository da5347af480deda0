import type { BreakerBoard, BreakerReport } from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/** The behaviour every `BreakerBoard` must have. */
export function describeBreakerBoardContract(
  name: string,
  open: () => Promise<{ board: BreakerBoard; close: () => Promise<void> }>,
): void {
  describe(`BreakerBoard contract: ${name}`, () => {
    let board: BreakerBoard;
    let close: () => Promise<void>;
    const now = Date.now();
    const report = (node: string, state: "open" | "half-open", expiresAt = now + 60_000) =>
      ({
        channel: "acme",
        interface: "loan.apply",
        node,
        state,
        since: now - 1_000,
        ...(state === "open" ? { probeAt: now + 29_000 } : {}),
        expiresAt,
      }) satisfies BreakerReport;
    const sorted = (reports: BreakerReport[]) =>
      [...reports].sort((a, b) => a.node.localeCompare(b.node));

    beforeEach(async () => {
      ({ board, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    test("lists every node's report; a later report of a node replaces its earlier one", async () => {
      expect(await board.list(now)).toEqual([]);
      await board.report(report("node-a", "open"));
      await board.report(report("node-b", "open"));
      await board.report(report("node-b", "half-open"));
      expect(sorted(await board.list(now))).toEqual([
        report("node-a", "open"),
        report("node-b", "half-open"),
      ]);
    });

    test("a closed report removes that node's breaker only", async () => {
      await board.report(report("node-a", "open"));
      await board.report(report("node-b", "open"));
      await board.report({
        channel: "acme",
        interface: "loan.apply",
        node: "node-a",
        state: "closed",
      });
      expect(await board.list(now)).toEqual([report("node-b", "open")]);
    });

    test("a report past its expiry is not listed", async () => {
      await board.report(report("node-a", "open", now + 10_000));
      await board.report(report("node-b", "open", now + 60_000));
      expect(sorted(await board.list(now + 20_000))).toEqual([report("node-b", "open")]);
    });
  });
}
