import { describe, expect, test } from "vitest";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior } from "../support/loan-definitions.ts";

describe("step logs are masked by the channel's rules with the behavior's over them", () => {
  test("every step of every instance, the behavior's style winning for a field both name", async () => {
    const behavior = {
      ...loanBehavior(),
      masking: { fields: { loanNo: "full" as const, idCardNo: "full" as const } },
    };
    const h = engineHarness({ behaviors: [behavior] });
    const ids: string[] = [];
    for (const loanNo of ["L-1", "L-2"]) {
      h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: `A-${loanNo}` } });
      ids.push((await h.startLoan(loanNo)).id);
    }
    await h.engine.runDue();
    expect(h.transport.requests).toHaveLength(2);
    const logs = await Promise.all(ids.map((id) => h.engine.history(id)));
    const callEntries = logs.flat().filter((entry) => entry.event === "call");
    expect(callEntries).toHaveLength(2);
    for (const entry of callEntries) {
      const body = (entry.request as { body: Record<string, unknown> }).body;
      // The behavior's `full` over the channel's `idCard` style; its own rule for loanNo.
      expect(body.idCardNo).toBe("****");
      expect(body.loanNo).toBe("****");
      expect(body.amount).toBe(100000);
      expect(JSON.stringify(entry)).not.toContain("110101199003071234");
      // Fields no rule names are kept.
      expect((entry.response as { body: { applyNo: string } }).body.applyNo).toMatch(/^A-L-/);
    }
  });
});
