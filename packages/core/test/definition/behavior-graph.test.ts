import { describe, expect, test } from "vitest";
import { buildBehaviorGraph } from "../../src/definition/behavior-graph.ts";
import { renderDot, renderMermaid } from "../../src/definition/render-graph.ts";
import type { BehaviorDefinition } from "../../src/definition/types.ts";

const loan: BehaviorDefinition = {
  channel: "bank",
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      request: { format: "json" },
      routes: [
        { when: 'outcome == "succeeded" && body.data.status == "ACCEPTED_FOR_REVIEW"', to: "wait" },
        { when: 'outcome == "failed"', to: "rejected" },
      ],
      otherwise: "query",
      onUnknownOutcome: "query",
    },
    wait: {
      kind: "callback",
      callback: "loan.result",
      deadline: "30m",
      onDeadline: "query",
      routes: [{ when: 'outcome == "succeeded"', to: "disbursed" }],
      otherwise: "query",
    },
    query: {
      kind: "poll",
      interface: "loan.query",
      request: { format: "json" },
      schedule: ["15s", "3m"],
      routes: [{ when: 'outcome == "succeeded"', to: "disbursed" }],
      onExhausted: "manual",
    },
    "cool-off": { kind: "delay", duration: "1h", next: "missing" },
    disbursed: { kind: "terminal", outcome: "succeeded" },
    rejected: { kind: "terminal", outcome: "failed" },
    manual: { kind: "terminal", outcome: "manual" },
  },
};

describe("buildBehaviorGraph", () => {
  const graph = buildBehaviorGraph(loan);

  test("has one node per step with its definition, and the behavior as graph attributes", () => {
    expect(graph.nodes()).toEqual(Object.keys(loan.steps));
    expect(graph.getNodeAttributes("apply")).toEqual({
      code: "apply",
      step: loan.steps.apply,
      initial: true,
    });
    expect(graph.getAttributes()).toEqual({ channel: "bank", behavior: "loan", initial: "apply" });
  });

  test("keeps parallel edges (route and fallbacks to the same step) in declaration order", () => {
    const edges = graph
      .mapOutEdges("apply", (_key, attributes, _source, target) => ({ target, ...attributes }))
      .sort((a, b) => a.order - b.order);
    expect(edges).toEqual([
      {
        target: "wait",
        kind: "route",
        when: 'outcome == "succeeded" && body.data.status == "ACCEPTED_FOR_REVIEW"',
        routeIndex: 0,
        pointer: "/routes/0/to",
        order: 0,
      },
      {
        target: "rejected",
        kind: "route",
        when: 'outcome == "failed"',
        routeIndex: 1,
        pointer: "/routes/1/to",
        order: 1,
      },
      { target: "query", kind: "otherwise", pointer: "/otherwise", order: 2 },
      { target: "query", kind: "unknownOutcome", pointer: "/onUnknownOutcome", order: 3 },
    ]);
  });

  test("leaves out transitions to unknown steps", () => {
    expect(graph.outDegree("cool-off")).toBe(0);
    expect(graph.size).toBe(9);
  });
});

describe("renderMermaid / renderDot", () => {
  const graph = buildBehaviorGraph(loan);

  test("mermaid: shapes by kind, shortened labels, dashed fallbacks, terminal classes", () => {
    const mermaid = renderMermaid(graph);
    expect(mermaid.split("\n").slice(0, 10)).toEqual([
      "flowchart TD",
      "  start((start))",
      '  s0_apply["apply<br/>call loan.apply"]',
      '  s1_wait[/"wait<br/>await loan.result ≤ 30m"/]',
      '  s2_query{{"query<br/>poll loan.query ×2"}}',
      '  s3_cool_off[("cool-off<br/>delay 1h")]',
      '  s4_disbursed(["disbursed<br/>succeeded"])',
      '  s5_rejected(["rejected<br/>failed"])',
      '  s6_manual(["manual<br/>manual"])',
      "  start --> s0_apply",
    ]);
    expect(mermaid).toContain(
      '  s0_apply -->|"outcome == #quot;succeeded#quot; && data.stat…"| s1_wait',
    );
    expect(mermaid).toContain('  s0_apply -.->|"unknown outcome"| s2_query');
    expect(mermaid).toContain('  s2_query -.->|"schedule exhausted"| s6_manual');
    expect(mermaid).toContain("  class s4_disbursed succeeded");
    expect(mermaid).toContain("  class s5_rejected failed");
    expect(mermaid).toContain("  classDef manual fill:#fff3bf,stroke:#e67700,color:#212529");
  });

  test("dot: a digraph with coloured terminals and dashed fallbacks", () => {
    const dot = renderDot(graph, { maxLabelLength: 12 });
    expect(dot.startsWith('digraph "bank/loan" {\n')).toBe(true);
    expect(dot).toContain('  "apply" -> "wait" [label="outcome == …"];');
    expect(dot).toContain('  "apply" -> "query" [label="unknown outcome", style=dashed];');
    expect(dot).toContain(
      '  "disbursed" [label="disbursed\\nsucceeded", shape=box, fillcolor="#d3f9d8", color="#2b8a3e", style="filled,rounded"];',
    );
    expect(dot).toContain('  start -> "apply";');
    expect(dot.trimEnd().endsWith("}")).toBe(true);
  });
});
