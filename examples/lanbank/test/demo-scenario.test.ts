import { describe, expect, it } from "vitest";
import { lanbankFunder } from "../../demo/funders/lanbank.ts";
import { faultKinds } from "../../demo/mock-funders.ts";
import { runDemo } from "../../demo/run-demo.ts";

/**
 * A reduced `pnpm start` for Lan Bank: every kind of scenario case once per behavior (credit,
 * disbursement, repayment with its trial calculation), through the demo's machinery (PGlite, the
 * fast clock, the mock funder over loopback HTTP with Lan Bank's RSA + AES crypto, callbacks over
 * HTTP, a worker). The run is checked against the money rules: one disbursement or repayment order
 * per business record, no backwards moves, every instance settled as its case expects.
 */
describe("Lan Bank demo scenario", () => {
  it("settles every case as expected, with every fault of the mock funder", async () => {
    const result = await runDemo({
      funders: [lanbankFunder],
      total: 30,
      seed: 7,
      progress: false,
      write: () => {},
      timeoutMs: 100_000,
    });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);

    const mock = result.run.mocks.get("lanbank");
    const faults = new Set(mock?.requests().map((request) => request.fault));

    for (const kind of faultKinds) expect(faults, kind).toContain(kind);

    // Duplicate callbacks were acknowledged every time and applied once.
    expect(result.run.callbacks.received).toBeGreaterThan(result.run.callbacks.stored);
    expect(result.run.events.duplicates).toBeGreaterThan(0);
  }, 120_000);
});
