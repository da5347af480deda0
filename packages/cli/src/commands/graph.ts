import { resolve } from "node:path";
import {
  type BehaviorGraph,
  buildBehaviorGraph,
  loadDefinitions,
  renderDot,
  renderMermaid,
} from "@capflow/core";
import { Option } from "commander";
import type { CapflowCommand } from "../command.ts";
import { plural } from "../plural.ts";

const renderers = { mermaid: renderMermaid, dot: renderDot, json: renderJson } as const;

type GraphFormat = keyof typeof renderers;

/** `capflow graph <dir> --behavior <channel>/<behavior>`: prints a behavior's step graph. */
export const graphCommand: CapflowCommand = {
  name: "graph",
  register(program, context) {
    program
      .command("graph")
      .description("print the step graph of one behavior as Mermaid, Graphviz DOT or JSON")
      .argument("<dir>", "folder of definitions")
      .requiredOption("-b, --behavior <channel/behavior>", "which behavior, e.g. lanbank/loan")
      .addOption(
        new Option("-f, --format <format>", "output format")
          .choices(Object.keys(renderers))
          .default("mermaid"),
      )
      .option("--json", "the same as --format json")
      .action(
        async (dir: string, options: { behavior: string; format: GraphFormat; json?: boolean }) => {
          const result = await loadDefinitions(resolve(context.cwd, dir));
          const [channel, code] = options.behavior.split("/");
          const behavior = result.behaviors.find(
            (candidate) => candidate.channel === channel && candidate.code === code,
          );
          if (behavior === undefined) {
            const known = result.behaviors.map((item) => `${item.channel}/${item.code}`);
            context.err(
              `behavior "${options.behavior}" is not defined under ${dir}; ${
                known.length === 0 ? "no behavior loaded" : `known: ${known.join(", ")}`
              }${result.problems.length > 0 ? ` (run \`capflow validate ${dir}\`: ${plural(result.problems.length, "problem")})` : ""}\n`,
            );
            context.setExitCode(1);
            return;
          }
          if (result.problems.length > 0) {
            context.err(
              `warning: ${plural(result.problems.length, "problem")} in the definitions; run \`capflow validate ${dir}\`\n`,
            );
          }
          const format = options.json === true ? "json" : options.format;
          context.out(renderers[format](buildBehaviorGraph(behavior)));
        },
      );
  },
};

/** Steps and transitions as data, for tools that draw graphs of their own. */
function renderJson(graph: BehaviorGraph): string {
  const steps = graph.mapNodes((code, attributes) => ({
    code,
    kind: attributes.step.kind,
    initial: attributes.initial,
  }));
  const transitions = graph.mapEdges((_edge, attributes, from, to) => ({
    from,
    to,
    ...attributes,
  }));
  return `${JSON.stringify({ ...graph.getAttributes(), steps, transitions }, null, 2)}\n`;
}
