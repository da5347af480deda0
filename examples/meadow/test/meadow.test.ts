import { codecFor, formCodec } from "@capflow/core";
import { exchangeWithMirroredFunder, loadExampleDefinitions } from "@capflow/example-demo";
import { describe, expect, it } from "vitest";
import { meadowFunder } from "../mock-funder.ts";

describe("Meadow definitions and keys", () => {
  it("are valid against the built-in processors and crypto handlers", async () => {
    const result = await loadExampleDefinitions(meadowFunder.dir);
    expect(result.problems).toEqual([]);
    expect(result.channels.map((channel) => channel.code)).toEqual(["meadow"]);
    expect(result.behaviors.map((behavior) => behavior.code).sort()).toEqual([
      "credit",
      "loan",
      "repay",
    ]);
  });

  it("let the platform and the mirrored funder read each other (MD5 with a shared key)", async () => {
    const exchange = await exchangeWithMirroredFunder(meadowFunder.dir, "meadow", {
      path: "/gateway.do",
      body: { out_loan_no: "M1", loan_amount: "8000.00" },
      answer: { ret_code: "SUCCESS", loan_no: "M-M1" },
      requestCodec: formCodec,
      responseCodec: codecFor("xml", { xml: { root: "response" } }),
    });
    expect(exchange.request).toMatchObject({ out_loan_no: "M1", loan_amount: "8000.00" });
    expect(exchange.response).toMatchObject({ ret_code: "SUCCESS", loan_no: "M-M1" });
  });
});
