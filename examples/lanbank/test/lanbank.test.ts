import { jsonCodec } from "@capflow/core";
import {
  exchangeWithMirroredFunder,
  faultKinds,
  loadExampleDefinitions,
  runDemo,
} from "@capflow/example-demo";
import { describe, expect, it } from "vitest";
import { lanbankFunder } from "../mock-funder.ts";

describe("Lan Bank definitions and keys", () => {
  it("are valid against the built-in processors and crypto handlers", async () => {
    const result = await loadExampleDefinitions(lanbankFunder.dir);
    expect(result.problems).toEqual([]);
    expect(result.channels.map((channel) => channel.code)).toEqual(["lanbank"]);
    expect(result.behaviors.map((behavior) => behavior.code).sort()).toEqual([
      "credit",
      "loan",
      "repay",
      "repay-trial",
    ]);
  });

  it("let the platform and the mirrored funder read each other (RSA + AES envelope)", async () => {
    const exchange = await exchangeWithMirroredFunder(lanbankFunder.dir, "lanbank", {
      path: "/loan/apply",
      body: { outOrderNo: "L1", loanAmt: 1250000 },
      answer: { respCode: "0000", data: { loanNo: "B-L1" } },
      requestCodec: jsonCodec,
      responseCodec: jsonCodec,
      callback: {
        body: { bizData: { outOrderNo: "L1", loanStatus: "SUCCESS" } },
        codec: jsonCodec,
      },
    });
    expect(exchange.request).toMatchObject({ outOrderNo: "L1", loanAmt: 1250000 });
    expect(exchange.response).toMatchObject({ respCode: "0000", data: { loanNo: "B-L1" } });
    expect(exchange.callback).toMatchObject({ bizData: { loanStatus: "SUCCESS" } });
  });
});

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
