import { useMemo } from "preact/hooks";
import type { BehaviorGraph as Graph } from "../api/types.ts";
import { layoutBehaviorGraph } from "../graph-layout.ts";
import { useI18n } from "../i18n/i18n.ts";

export interface GraphHighlight {
  current?: string;
  /** Steps the instance went through. */
  visited?: ReadonlySet<string>;
  /** Edges it took, as `from->to`. */
  taken?: ReadonlySet<string>;
}

/**
 * A behavior's steps drawn with dagre's layout: the current step outlined, the path taken
 * highlighted. The same information is in a list for screen readers and keyboard users.
 */
export function BehaviorGraph(props: { graph: Graph; highlight?: GraphHighlight; label: string }) {
  const { t } = useI18n();
  const layout = useMemo(() => layoutBehaviorGraph(props.graph), [props.graph]);
  const { current, visited, taken } = props.highlight ?? {};
  return (
    <figure class="graph">
      <svg
        role="img"
        aria-label={props.label}
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow" />
          </marker>
        </defs>
        {layout.edges.map((edge) => {
          const on = taken?.has(`${edge.from}->${edge.to}`);
          const d = edge.points.map((p, i) => `${i === 0 ? "M" : "L"} ${p.x} ${p.y}`).join(" ");
          return (
            <g key={`${edge.from}-${edge.to}-${edge.label}`} class={on ? "edge taken" : "edge"}>
              <path d={d} marker-end="url(#arrow)" />
              {edge.labelAt ? (
                <text x={edge.labelAt.x} y={edge.labelAt.y + 4} text-anchor="middle">
                  {edge.label}
                </text>
              ) : null}
            </g>
          );
        })}
        {layout.nodes.map((node) => {
          const classes = ["node", `kind-${node.kind}`];
          if (node.outcome) classes.push(`outcome-${node.outcome}`);
          if (visited?.has(node.id)) classes.push("visited");
          if (node.id === current) classes.push("current");
          return (
            <g key={node.id} class={classes.join(" ")} data-step={node.id}>
              <title>{`${node.id} (${node.kind})`}</title>
              <rect
                x={node.x - node.width / 2}
                y={node.y - node.height / 2}
                width={node.width}
                height={node.height}
                rx="6"
              />
              <text x={node.x} y={node.y + 4} text-anchor="middle">
                {node.id}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        {props.highlight ? <p class="legend">{t("instance.graph.legend")}</p> : null}
        <ul class="visually-hidden">
          {props.graph.nodes.map((node) => (
            <li key={node.id}>
              {node.id} ({node.kind}){node.id === current ? " ← current" : ""}
              {visited?.has(node.id) && node.id !== current ? " ✓" : ""}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
