import type { ScriptedRequest } from "./endpoint.ts";

/**
 * Finds the business key (loan number, application number…) of a call, so the mock can count
 * calls per business record: "was this loan disbursed exactly once?", "answer processing for the
 * first two polls of each loan". Returns undefined when the request carries none.
 */
export type BusinessKeyExtractor = (
  request: Omit<ScriptedRequest, "businessKey" | "n" | "call">,
) => string | undefined;

/**
 * The value at a dotted path inside a decoded body (`"data.loanNo"`), or undefined when any step
 * of the path is missing. Array elements are addressed by index (`"items.0.id"`).
 */
export function bodyField(body: unknown, path: string): unknown {
  let value: unknown = body;
  for (const segment of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/**
 * A business key extractor reading a field of the body (`businessKey: byField("data.loanNo")`), or
 * else the query parameter of that name, which is where GET queries carry it.
 */
export function byField(path: string): BusinessKeyExtractor {
  return (request) => {
    const value = bodyField(request.body, path) ?? request.query[path];
    return typeof value === "string" || typeof value === "number" || typeof value === "bigint"
      ? String(value)
      : undefined;
  };
}
