import { describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

describe("capflow graph", () => {
  test("prints a behavior as Mermaid by default", async () => {
    const run = await runCapflow(
      "graph",
      "examples/lanbank/definitions",
      "--behavior",
      "lanbank/loan",
    );
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe("");
    const lines = run.stdout.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "flowchart TD",
      "  start((start))",
      '  s0_apply["apply<br/>call loan.apply"]',
      '  s1_awaitResult[/"awaitResult<br/>await loan.result ≤ 30m"/]',
    ]);
    expect(lines).toContain('  s0_apply -.->|"unknown outcome"| s2_query');
    expect(lines).toContain('  s2_query -.->|"schedule exhausted"| s5_manualReview');
    expect(lines).toContain("  class s3_disbursed succeeded");
  });

  test("prints DOT with --format dot", async () => {
    const run = await runCapflow(
      "graph",
      "examples/meadow/definitions",
      "-b",
      "meadow/loan",
      "-f",
      "dot",
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout.startsWith('digraph "meadow/loan" {\n')).toBe(true);
    expect(run.stdout).toContain('  "settle" [label="settle\\ndelay 1m", shape=cylinder];');
    expect(run.stdout).toContain('  "settle" -> "query";');
  });

  test("--json prints the steps and transitions as data", async () => {
    const run = await runCapflow(
      "graph",
      "examples/lanbank/definitions",
      "-b",
      "lanbank/credit",
      "--json",
    );
    expect(run.exitCode).toBe(0);
    const graph = JSON.parse(run.stdout) as {
      initial: string;
      steps: { code: string; kind: string; initial: boolean }[];
      transitions: { from: string; to: string }[];
    };
    expect(graph.initial).toBe("apply");
    expect(graph.steps).toContainEqual({ code: "apply", kind: "call", initial: true });
    expect(graph.transitions).toContainEqual(
      expect.objectContaining({ from: "apply", to: "awaitResult" }),
    );
  });

  test("an unknown behavior lists the known ones and exits 1", async () => {
    const run = await runCapflow(
      "graph",
      "examples/jade-trust/definitions",
      "-b",
      "jade-trust/credit",
    );
    expect(run).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        'behavior "jade-trust/credit" is not defined under examples/jade-trust/definitions; known: jade-trust/loan, jade-trust/repay\n',
    });
  });

  test("rejects an unknown format and requires --behavior", async () => {
    const badFormat = await runCapflow(
      "graph",
      "examples/lanbank/definitions",
      "-b",
      "lanbank/loan",
      "-f",
      "svg",
    );
    expect(badFormat.exitCode).toBe(1);
    expect(badFormat.stderr).toContain(
      "error: option '-f, --format <format>' argument 'svg' is invalid",
    );
    const noBehavior = await runCapflow("graph", "examples/lanbank/definitions");
    expect(noBehavior.exitCode).toBe(1);
    expect(noBehavior.stderr).toContain(
      "error: required option '-b, --behavior <channel/behavior>' not specified",
    );
  });

  test("--help lists the commands and exits 0", async () => {
    const run = await runCapflow("--help");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("validate [options] <dir>");
    expect(run.stdout).toContain("graph [options] <dir>");
  });
});
