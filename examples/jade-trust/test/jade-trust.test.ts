import { jsonCodec } from "@capflow/core";
import { exchangeWithMirroredFunder, loadExampleDefinitions, runDemo } from "@capflow/example-demo";
import { describe, expect, it } from "vitest";
import { jadeTrustFunder } from "../mock-funder.ts";

describe("Jade Trust definitions and keys", () => {
  it("are valid against the built-in processors and crypto handlers", async () => {
    const result = await loadExampleDefinitions(jadeTrustFunder.dir);
    expect(result.problems).toEqual([]);
    expect(result.channels.map((channel) => channel.code)).toEqual(["jade-trust"]);
    expect(result.behaviors.map((behavior) => behavior.code).sort()).toEqual(["loan", "repay"]);
  });

  it("let the platform and the mirrored funder read each other (SM2 + SM4 envelope)", async () => {
    const exchange = await exchangeWithMirroredFunder(jadeTrustFunder.dir, "jade-trust", {
      path: "/v1/loans",
      body: { partnerLoanNo: "J1", amount: "20000.00" },
      answer: { code: "00000", result: { loanNo: "T-J1" } },
      requestCodec: jsonCodec,
      responseCodec: jsonCodec,
      callback: { body: { data: { partnerLoanNo: "J1", status: "LENT" } }, codec: jsonCodec },
    });
    expect(exchange.request).toMatchObject({ partnerLoanNo: "J1", amount: "20000.00" });
    expect(exchange.response).toMatchObject({ code: "00000", result: { loanNo: "T-J1" } });
    expect(exchange.callback).toMatchObject({ data: { status: "LENT" } });
  });
});

/**
 * A reduced `pnpm start` for Jade Trust: every kind of scenario case once per behavior
 * (disbursement and repayment, results by callback with a query after the deadline), through the
 * demo's machinery, checked against the money rules.
 */
describe("Jade Trust demo scenario", () => {
  it("settles every case as expected, with every fault of the mock funder", async () => {
    const result = await runDemo({
      funders: [jadeTrustFunder],
      total: 0,
      seed: 11,
      progress: false,
      write: () => {},
    });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    const kinds = new Set(result.run.cases.map((scenarioCase) => scenarioCase.kind));
    expect(kinds).toContain("duplicate callbacks");
    expect(kinds).toContain("callback before answer");
    expect(result.run.events.duplicates).toBeGreaterThan(0);
  }, 120_000);
});
