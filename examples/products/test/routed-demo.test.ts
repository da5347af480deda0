import { runDemo } from "@capflow/example-demo";
import { jadeTrustFunder } from "@capflow/example-jade-trust";
import { lanbankFunder } from "@capflow/example-lanbank";
import { meadowFunder } from "@capflow/example-meadow";
import { describe, expect, it } from "vitest";
import { routedBusiness } from "../../routed-business.ts";
import { validateExampleProducts } from "../../validate-examples.ts";

describe("the example products", () => {
  it("are valid against the funders they route to", async () => {
    const products = await validateExampleProducts();
    expect(products.problems).toEqual([]);
    expect(products.products.map((product) => product.code)).toEqual(["cash-loan", "credit-line"]);
  });

  it("route the demo's business: weights, eligibility, a full daily quota, a failover", async () => {
    const products = await validateExampleProducts();
    let output = "";
    const result = await runDemo({
      funders: [lanbankFunder, meadowFunder, jadeTrustFunder],
      total: 12,
      seed: 11,
      onlyKinds: ["approved"],
      progress: false,
      write: (text) => {
        output += text;
      },
      timeoutMs: 200_000,
      routing: routedBusiness(products.products),
    });
    expect(result.problems).toEqual([]);
    const routing = output.slice(
      output.indexOf("Fund routing"),
      output.indexOf("Business protection"),
    );
    // Thirty loans of 8,000 to 12,000: Lan Bank's 100,000 a day fill up, the rest go on.
    expect(routing).toMatch(
      /cash-loan +30 started: lanbank 10 \(weight 5\), meadow \d+ \(weight 3\), jade-trust \d+ \(weight 2\); chosen by weighted-round-robin \d+, next-with-quota [1-9]\d*/,
    );
    expect(routing).toContain("quota product:cash-loan/lanbank");
    expect(routing).toMatch(/98,000\.00 of 100,000\.00 used, 10 of 2000 starts \(10 consumed\)/);
    expect(routing).toContain("failover: CR0001 lanbank rejected → meadow approved (succeeded)");
  }, 240_000);
});
