import { describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const input = "packages/cli/test/preview/lanbank-loan-input.json";
const now = "2026-11-21T14:00:00Z";

describe("capflow preview", () => {
  test("prints the rendered request without sealing it", async () => {
    const run = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "--step",
      "lanbank/loan/apply",
      "--input",
      input,
      "--now",
      now,
      "--instance",
      "inst-1",
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const [head, body] = run.stdout.split("\n\n");
    const lines = head!.split("\n");
    expect(lines[0]).toBe("POST https://openapi.lanbank.example/v3/loan/apply");
    expect(lines).toContain("Content-Type: application/json; charset=utf-8");
    expect(lines.some((line) => /^X-Lan-Request-Id: [0-9a-f-]{36}$/.test(line))).toBe(true);
    const message = JSON.parse(body!) as Record<string, unknown>;
    expect(message).toMatchObject({
      reqTime: "20261121220000",
      outOrderNo: "LN20261121001",
      custName: "张三",
      loanAmount: 500000,
      loanTerm: 12,
      repayMethod: "EQUAL_INSTALLMENT",
    });
    expect(message.reqSerialNo).toMatch(/^LBL20261121\d{16}$/);
    // Same instance, step and attempt: the same serial number.
    const again = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/apply",
      "-i",
      input,
      "--now",
      now,
      "--instance",
      "inst-1",
    );
    expect(
      (JSON.parse(again.stdout.split("\n\n")[1]!) as { reqSerialNo: string }).reqSerialNo,
    ).toBe(message.reqSerialNo);
  });

  test("--mask applies the masking rules", async () => {
    const run = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/apply",
      "-i",
      input,
      "--mask",
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain("110101199003071234");
    expect(run.stdout).not.toContain("13812345678");
  });

  test("warns where the input does not match the behavior's input schema", async () => {
    const run = await runCapflow(
      "preview",
      "packages/cli/test/preview/with-input-schema",
      "-s",
      "lanbank/loan/apply",
      "-i",
      "packages/cli/test/preview/with-input-schema-input.json",
    );
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe("warning: input /loanNo is required\n");
    expect(JSON.parse(run.stdout.split("\n\n")[1]!)).toEqual({ amount: "100.00" });
  });

  test("explains steps that send nothing and unknown steps", async () => {
    const terminal = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/failed",
    );
    expect(terminal.exitCode).toBe(1);
    expect(terminal.stderr).toContain("sends no request");
    const unknown = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/nope",
    );
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('step "nope" is not defined in lanbank/loan; steps: apply');
    const badStep = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan",
    );
    expect(badStep.exitCode).toBe(1);
    expect(badStep.stderr).toContain("--step must be <channel>/<behavior>/<step>");
  });
});
