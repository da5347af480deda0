import dagre from "@dagrejs/dagre";
import type { BehaviorGraph } from "./api/types.ts";

export interface PlacedNode {
  id: string;
  kind: string;
  outcome?: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  label: string;
  points: { x: number; y: number }[];
  labelAt: { x: number; y: number } | null;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

const nodeHeight = 36;
const charWidth = 7.5;

/**
 * Positions a behavior's steps top to bottom with dagre (layered, as step graphs read: the initial
 * step on top, terminals at the bottom). Several routes between the same two steps stay apart.
 */
export function layoutBehaviorGraph(graph: BehaviorGraph): GraphLayout {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 46, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    g.setNode(node.id, {
      width: Math.max(90, node.id.length * charWidth + 28),
      height: nodeHeight,
    });
  }
  graph.edges.forEach((edge, index) => {
    g.setEdge(
      edge.from,
      edge.to,
      { width: edge.label.length * 6, height: 14, labelpos: "c" },
      `${index}`,
    );
  });
  dagre.layout(g);
  const label = g.graph() as { width?: number; height?: number };
  return {
    width: Math.ceil(label.width ?? 0),
    height: Math.ceil(label.height ?? 0),
    nodes: graph.nodes.map((node) => {
      const placed = g.node(node.id) as { x: number; y: number; width: number; height: number };
      return {
        id: node.id,
        kind: node.kind,
        ...(node.outcome ? { outcome: node.outcome } : {}),
        x: placed.x,
        y: placed.y,
        width: placed.width,
        height: placed.height,
      };
    }),
    edges: graph.edges.map((edge, index) => {
      const placed = g.edge({ v: edge.from, w: edge.to, name: `${index}` }) as {
        points?: { x: number; y: number }[];
        x?: number;
        y?: number;
      };
      return {
        ...edge,
        points: placed.points ?? [],
        labelAt:
          placed.x !== undefined && placed.y !== undefined ? { x: placed.x, y: placed.y } : null,
      };
    }),
  };
}
