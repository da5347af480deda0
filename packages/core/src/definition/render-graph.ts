import type { BehaviorGraph, StepEdgeAttributes } from "./behavior-graph.ts";
import type { StepDefinition, TerminalOutcome } from "./types.ts";

/**
 * Text renderings of a behavior graph for docs and reviews: Mermaid (GitHub, most wikis) and
 * Graphviz DOT. Shapes tell step kinds apart; terminal steps are coloured by outcome; fallback
 * transitions (deadline, exhausted, unknown outcome) are dashed; route conditions are shortened.
 */

const outcomeColours: Record<TerminalOutcome, { fill: string; stroke: string }> = {
  succeeded: { fill: "#d3f9d8", stroke: "#2b8a3e" },
  failed: { fill: "#ffe3e3", stroke: "#c92a2a" },
  manual: { fill: "#fff3bf", stroke: "#e67700" },
  cancelled: { fill: "#e9ecef", stroke: "#495057" },
};

const fallbackKinds = new Set<StepEdgeAttributes["kind"]>([
  "unknownOutcome",
  "retryExhausted",
  "deadline",
  "exhausted",
  "resend",
]);

export interface RenderGraphOptions {
  /** Longest route condition shown on an edge before it is cut with `…`. Default 36. */
  maxLabelLength?: number;
}

/** A Mermaid `flowchart`. */
export function renderMermaid(graph: BehaviorGraph, options: RenderGraphOptions = {}): string {
  const ids = nodeIds(graph);
  const lines = ["flowchart TD", "  start((start))"];
  graph.forEachNode((code, { step }) => {
    const [open, close] = mermaidShape(step);
    lines.push(`  ${ids.get(code)}${open}"${mermaidText(nodeLabel(code, step))}"${close}`);
  });
  lines.push(`  start --> ${ids.get(graph.getAttribute("initial")) ?? "start"}`);
  for (const { source, target, attributes } of orderedEdges(graph)) {
    const label = edgeLabel(attributes, options);
    const arrow = fallbackKinds.has(attributes.kind) ? "-.->" : "-->";
    const text = label === "" ? "" : `|"${mermaidText(label)}"|`;
    lines.push(`  ${ids.get(source)} ${arrow}${text} ${ids.get(target)}`);
  }
  for (const [outcome, { fill, stroke }] of Object.entries(outcomeColours)) {
    lines.push(`  classDef ${outcome} fill:${fill},stroke:${stroke},color:#212529`);
  }
  graph.forEachNode((code, { step }) => {
    if (step.kind === "terminal") lines.push(`  class ${ids.get(code)} ${step.outcome}`);
  });
  return `${lines.join("\n")}\n`;
}

/** A Graphviz `digraph`. */
export function renderDot(graph: BehaviorGraph, options: RenderGraphOptions = {}): string {
  const name = `${graph.getAttribute("channel")}/${graph.getAttribute("behavior")}`;
  const lines = [
    `digraph ${dotString(name)} {`,
    "  rankdir=TB;",
    '  node [fontname="Helvetica", fontsize=11, style=filled, fillcolor="#f8f9fa", color="#495057"];',
    '  edge [fontname="Helvetica", fontsize=9, color="#495057"];',
    '  start [shape=circle, label="", width=0.2, fillcolor="#212529"];',
  ];
  graph.forEachNode((code, { step }) => {
    const attributes = [`label=${dotString(nodeLabel(code, step))}`, `shape=${dotShape(step)}`];
    if (step.kind === "terminal") {
      const { fill, stroke } = outcomeColours[step.outcome];
      attributes.push(`fillcolor="${fill}"`, `color="${stroke}"`, 'style="filled,rounded"');
    }
    lines.push(`  ${dotString(code)} [${attributes.join(", ")}];`);
  });
  lines.push(`  start -> ${dotString(graph.getAttribute("initial"))};`);
  for (const { source, target, attributes } of orderedEdges(graph)) {
    const edge: string[] = [];
    const label = edgeLabel(attributes, options);
    if (label !== "") edge.push(`label=${dotString(label)}`);
    if (fallbackKinds.has(attributes.kind)) edge.push("style=dashed");
    const suffix = edge.length === 0 ? "" : ` [${edge.join(", ")}]`;
    lines.push(`  ${dotString(source)} -> ${dotString(target)}${suffix};`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

interface OrderedEdge {
  source: string;
  target: string;
  attributes: StepEdgeAttributes;
}

/** Edges in declaration order: by step, then by the step's own transition order. */
function orderedEdges(graph: BehaviorGraph): OrderedEdge[] {
  const edges: OrderedEdge[] = [];
  graph.forEachNode((code) => {
    const outgoing: OrderedEdge[] = [];
    graph.forEachOutEdge(code, (_edge, attributes, source, target) => {
      outgoing.push({ source, target, attributes });
    });
    edges.push(...outgoing.sort((a, b) => a.attributes.order - b.attributes.order));
  });
  return edges;
}

function nodeIds(graph: BehaviorGraph): Map<string, string> {
  const ids = new Map<string, string>();
  let index = 0;
  graph.forEachNode((code) => {
    // Mermaid ids must be plain words; codes may contain dots and dashes.
    ids.set(code, `s${index++}_${code.replace(/[^A-Za-z0-9_]/g, "_")}`);
  });
  return ids;
}

function nodeLabel(code: string, step: StepDefinition): string {
  switch (step.kind) {
    case "call":
      return `${code}\ncall ${step.interface}`;
    case "poll":
      return `${code}\npoll ${step.interface} ×${step.schedule.length}`;
    case "callback":
      return `${code}\nawait ${step.callback} ≤ ${step.deadline}${step.poll === undefined ? "" : `\n+ poll ${step.poll.interface}`}`;
    case "delay":
      return `${code}\ndelay ${step.duration}`;
    case "decide":
      return `${code}\ndecide`;
    case "terminal":
      return `${code}\n${step.outcome}`;
  }
}

function edgeLabel(edge: StepEdgeAttributes, options: RenderGraphOptions): string {
  switch (edge.kind) {
    case "route":
      return shorten(edge.when ?? "", options.maxLabelLength ?? 36);
    case "otherwise":
      return "otherwise";
    case "unknownOutcome":
      return "unknown outcome";
    case "retryExhausted":
      return "retries exhausted";
    case "deadline":
      return "deadline";
    case "exhausted":
      return "schedule exhausted";
    case "resend":
      return "not received: resend";
    case "next":
      return "";
  }
}

/** Drops the noise of common condition prefixes, then cuts to the maximum length. */
function shorten(condition: string, max: number): string {
  const compact = condition
    .replace(/\s+/g, " ")
    .replace(/\b(body|fields|context|input)\./g, "")
    .trim();
  return compact.length <= max ? compact : `${compact.slice(0, max - 1)}…`;
}

function mermaidShape(step: StepDefinition): [string, string] {
  switch (step.kind) {
    case "call":
      return ["[", "]"];
    case "poll":
      return ["{{", "}}"];
    case "callback":
      return ["[/", "/]"];
    case "delay":
      return ["[(", ")]"];
    case "decide":
      return ["{", "}"];
    case "terminal":
      return ["([", "])"];
  }
}

function dotShape(step: StepDefinition): string {
  switch (step.kind) {
    case "call":
      return "box";
    case "poll":
      return "hexagon";
    case "callback":
      return "parallelogram";
    case "delay":
      return "cylinder";
    case "decide":
      return "diamond";
    case "terminal":
      return "box";
  }
}

/** Mermaid labels: quotes become entities, line breaks become `<br/>`. */
function mermaidText(text: string): string {
  return text.replaceAll('"', "#quot;").replaceAll("\n", "<br/>");
}

function dotString(text: string): string {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;
}
