import { describe, expect, it } from "vitest";
import { layoutBehaviorGraph } from "../app/graph-layout.ts";

describe("behavior graph layout", () => {
  it("places every step once, the initial step above the steps it leads to, parallel routes apart", () => {
    const layout = layoutBehaviorGraph({
      initial: "apply",
      nodes: [
        { id: "apply", kind: "call" },
        { id: "query", kind: "poll" },
        { id: "done", kind: "terminal", outcome: "succeeded" },
        { id: "review", kind: "terminal", outcome: "manual" },
      ],
      edges: [
        { from: "apply", to: "query", label: "processing" },
        { from: "apply", to: "query", label: "unknown" },
        { from: "query", to: "done", label: "succeeded" },
        { from: "query", to: "review", label: "exhausted" },
      ],
    });
    const y = (id: string) => layout.nodes.find((node) => node.id === id)!.y;
    expect(layout.nodes.map((node) => node.id)).toEqual(["apply", "query", "done", "review"]);
    expect(y("apply")).toBeLessThan(y("query"));
    expect(y("query")).toBeLessThan(y("done"));
    expect(layout.edges).toHaveLength(4);
    for (const edge of layout.edges) expect(edge.points.length).toBeGreaterThan(1);
    expect(layout.edges[0]!.points).not.toEqual(layout.edges[1]!.points);
    expect(layout.width).toBeGreaterThan(0);
  });
});
