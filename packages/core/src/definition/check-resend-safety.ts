import { singleSource } from "graphology-shortest-path/unweighted.js";
import { type BehaviorGraph, buildBehaviorGraph } from "./behavior-graph.ts";
import { toPointer } from "./json-pointer.ts";
import { ownEntry } from "./own-entry.ts";
import type { Problem } from "./problem.ts";
import { stepTransitions } from "./step-transitions.ts";
import type { BehaviorDefinition, CallStep, ChannelDefinition } from "./types.ts";

/**
 * A call the partner does not deduplicate must never be sent twice for one attempt: after an
 * unknown outcome the engine has to ask (query) before anything else. These checks catch the
 * definitions that would make it resend blindly, or leave it no way to ask.
 */
export function checkResendSafety(
  behavior: BehaviorDefinition,
  channel: ChannelDefinition,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const isUnsafeCall = (code: string | undefined): boolean => {
    const step = code === undefined ? undefined : behavior.steps[code];
    return step?.kind === "call" && !isIdempotent(step, channel);
  };
  // Sending the same request again: the call itself, or another non-idempotent call to its interface.
  const isResendOf = (call: string, code: string): boolean => {
    const sent = behavior.steps[call];
    const other = behavior.steps[code];
    if (sent?.kind !== "call" || other?.kind !== "call") return false;
    return code === call || (other.interface === sent.interface && isUnsafeCall(code));
  };
  let graph: BehaviorGraph | undefined;
  for (const [code, step] of Object.entries(behavior.steps)) {
    // A call to an unknown interface is already reported (`unknown-interface`).
    const knownInterface =
      step.kind === "call" && ownEntry(channel.interfaces, step.interface) !== undefined;
    if (step.kind === "call" && knownInterface && !isIdempotent(step, channel)) {
      if (step.onUnknownOutcome === undefined) {
        problems.push({
          code: "unknown-outcome-unhandled",
          file,
          pointer: toPointer(["steps", code]),
          message: `call step "${code}" is not idempotent and has no "onUnknownOutcome": after a timeout the engine could neither resend nor ask; add "onUnknownOutcome" (normally a query step) or mark the call idempotent if the partner deduplicates it`,
        });
      } else if (!isUnsafeCall(step.onUnknownOutcome)) {
        // The recovery query's own ways out (routes, otherwise) must not lead back into a
        // non-idempotent call: only `onNotReceived`, under its own checks, may resend.
        const query = behavior.steps[step.onUnknownOutcome];
        const reported = new Set<string>();
        for (const edge of query ? stepTransitions(query) : []) {
          if ((edge.kind === "route" || edge.kind === "otherwise") && isUnsafeCall(edge.to)) {
            const pointer = toPointer(["steps", step.onUnknownOutcome]) + edge.pointer;
            reported.add(pointer);
            problems.push({
              code: "unsafe-resend",
              file,
              pointer,
              message: `"${step.onUnknownOutcome}" recovers the unknown outcome of "${code}" and routes to the non-idempotent call "${edge.to}": the request may have been processed, so this could send it twice; route to manual review, or resend through "onNotReceived" where the partner deduplicates by serial`,
            });
          }
        }
        graph ??= recoveryGraph(behavior);
        for (const found of pathsBackToCall(graph, step.onUnknownOutcome, code, isResendOf)) {
          if (reported.has(found.pointer)) continue;
          reported.add(found.pointer);
          problems.push({
            code: "unsafe-resend",
            file,
            pointer: found.pointer,
            message: `"${step.onUnknownOutcome}" recovers the unknown outcome of "${code}", and a path from it leads back to the non-idempotent call "${found.to}" (${found.path.join(" → ")}): the request may have been processed, so this could send it twice; end that path in manual review, or resend through "onNotReceived" where the partner deduplicates by serial`,
          });
        }
      }
      if (isUnsafeCall(step.onUnknownOutcome)) {
        problems.push({
          code: "unsafe-resend",
          file,
          pointer: toPointer(["steps", code, "onUnknownOutcome"]),
          message: `"onUnknownOutcome" of "${code}" goes to the non-idempotent call "${step.onUnknownOutcome}": the request may have been processed, so this could send it twice; go to a query step instead`,
        });
      }
    }
    if (step.kind === "poll" && step.onNotReceived !== undefined) {
      problems.push(...checkNotReceived(behavior, channel, file, code, step.onNotReceived.resend));
    }
    if (step.kind === "poll" && isUnsafeCall(step.onExhausted)) {
      problems.push({
        code: "unsafe-resend",
        file,
        pointer: toPointer(["steps", code, "onExhausted"]),
        message: `"onExhausted" of "${code}" goes to the non-idempotent call "${step.onExhausted}": the outcome is still unknown, so this could send it twice; go to manual review instead`,
      });
    }
  }
  return problems;
}

/**
 * A recovery resend goes back to the call whose unknown outcome this query recovers, and only to
 * one whose interface declares that the partner deduplicates by our serial.
 */
function checkNotReceived(
  behavior: BehaviorDefinition,
  channel: ChannelDefinition,
  file: string,
  code: string,
  resend: string,
): Problem[] {
  const target = behavior.steps[resend];
  // A step that does not exist is already reported (`unknown-step`).
  if (target === undefined) return [];
  const pointer = toPointer(["steps", code, "onNotReceived", "resend"]);
  const problem = (message: string): Problem[] => [
    { code: "unsafe-resend", file, pointer, message },
  ];
  if (target.kind !== "call")
    return problem(
      `"onNotReceived" of "${code}" names "${resend}", which is not a call step; name the call whose unknown outcome this query recovers`,
    );
  const iface = ownEntry(channel.interfaces, target.interface);
  if (iface === undefined) return [];
  if (iface.deduplicatesSerial === undefined)
    return problem(
      `"onNotReceived" of "${code}" resends "${resend}", but interface "${target.interface}" does not declare "deduplicatesSerial": resend only to a partner that deduplicates by our serial (declare it on the interface if its documentation says so), else route "order does not exist" to manual review`,
    );
  if (target.onUnknownOutcome !== code)
    return problem(
      `"onNotReceived" of "${code}" resends "${resend}", whose "onUnknownOutcome" is not "${code}": only the query that recovers a call's unknown outcome may resend it`,
    );
  return [];
}

function isIdempotent(step: CallStep, channel: ChannelDefinition): boolean {
  return step.idempotent ?? ownEntry(channel.interfaces, step.interface)?.idempotent ?? false;
}

/**
 * The behavior's step graph without the `onNotReceived` resends: those are the one sanctioned way
 * back into a call after an unknown outcome, checked on their own (`checkNotReceived`).
 */
function recoveryGraph(behavior: BehaviorDefinition): BehaviorGraph {
  const graph = buildBehaviorGraph(behavior);
  graph
    .filterEdges((_edge, attributes) => attributes.kind === "resend")
    .forEach((edge) => {
      graph.dropEdge(edge);
    });
  return graph;
}

interface PathBack {
  /** The call the path reaches. */
  to: string;
  /** The shortest such path, both ends included. */
  path: string[];
  /** The property naming the call on the path's last step. */
  pointer: string;
}

/**
 * Paths of any length from a recovery query to a resend of the call it recovers, shortest first
 * per target (a breadth-first search over the step graph): a route that reaches a decision that
 * goes back to the call is as unsafe as a route straight to it.
 */
function pathsBackToCall(
  graph: BehaviorGraph,
  query: string,
  call: string,
  isResendOf: (call: string, code: string) => boolean,
): PathBack[] {
  if (!graph.hasNode(query)) return [];
  const paths = singleSource(graph, query);
  const found: PathBack[] = [];
  for (const [to, path] of Object.entries(paths)) {
    if (path.length < 2 || !isResendOf(call, to)) continue;
    const from = path[path.length - 2]!;
    const [edge] = graph
      .edges(from, to)
      .map((key) => graph.getEdgeAttributes(key))
      .sort((a, b) => a.order - b.order);
    found.push({ to, path, pointer: toPointer(["steps", from]) + edge!.pointer });
  }
  return found;
}
