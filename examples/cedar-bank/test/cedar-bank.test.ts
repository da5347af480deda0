import { codecFor } from "@capflow/core";
import { exchangeWithMirroredFunder, loadExampleDefinitions, runDemo } from "@capflow/example-demo";
import { describe, expect, it } from "vitest";
import { cedarBankFunder } from "../mock-funder.ts";

const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });

describe("Cedar Bank definitions and keys", () => {
  it("are valid against the built-in processors and crypto handlers", async () => {
    const result = await loadExampleDefinitions(cedarBankFunder.dir);
    expect(result.problems).toEqual([]);
    expect(result.channels.map((channel) => channel.code)).toEqual(["cedar-bank"]);
    expect(result.behaviors.map((behavior) => behavior.code)).toEqual(["loan"]);
  });

  it("let the platform and the mirrored bank read each other (GBK XML, detached CMS over <body>)", async () => {
    const exchange = await exchangeWithMirroredFunder(cedarBankFunder.dir, "cedar-bank", {
      path: "/h2h/loan",
      body: { head: { txCode: "LOAN" }, body: { partnerLoanNo: "C1", custName: "张三" } },
      answer: { head: { code: "0000", msg: "受理成功" }, body: { loanNo: "CB-C1" } },
      requestCodec: xml,
      responseCodec: xml,
      callback: {
        body: {
          head: { txCode: "LOAN_NOTIFY" },
          body: { notifyId: "N1", partnerLoanNo: "C1", remark: "放款失败：账户冻结" },
        },
        codec: xml,
      },
    });
    expect(exchange.request).toMatchObject({ body: { partnerLoanNo: "C1", custName: "张三" } });
    expect(exchange.response).toMatchObject({ head: { msg: "受理成功" } });
    expect(exchange.callback).toMatchObject({ body: { remark: "放款失败：账户冻结" } });
  });
});

/**
 * A reduced `pnpm start` for Cedar Bank: every kind of scenario case once, through the demo's
 * machinery (GBK on the wire both ways, CMS signatures verified against the test CA with the
 * bank's subject pinned), checked against the money rules.
 */
describe("Cedar Bank demo scenario", () => {
  it("settles every case as expected, with every fault of the mock funder", async () => {
    const result = await runDemo({
      funders: [cedarBankFunder],
      total: 0,
      seed: 13,
      progress: false,
      write: () => {},
    });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    const kinds = new Set(result.run.cases.map((scenarioCase) => scenarioCase.kind));
    expect(kinds).toContain("duplicate callbacks");
    expect(result.run.events.duplicates).toBeGreaterThan(0);
  }, 120_000);
});
