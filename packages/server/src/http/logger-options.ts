import type { FastifyServerOptions } from "fastify";

/** Where the server logs, and how much. */
export interface ServerLogOptions {
  /** pino level. Default `info`. */
  level?: string;
  /** Where the JSON lines go. Default standard output. */
  stream?: { write(line: string): unknown };
}

/**
 * Header and field names whose values never reach a log line, wherever they appear in a logged
 * object: credentials (operator tokens, signatures, cookies) and proxy identity headers.
 */
export const redactedPaths = [
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-api-key']",
  "req.headers['proxy-authorization']",
  "headers.authorization",
  "headers.cookie",
  "headers['x-api-key']",
  "headers['proxy-authorization']",
  "res.headers['set-cookie']",
  "authorization",
  "token",
  "*.token",
  "password",
  "*.password",
  "secret",
  "*.secret",
];

/**
 * pino options for Fastify: redaction of {@link redactedPaths}, and requests logged by method and
 * path only (a query string may carry a partner's signature or personal data).
 */
export function loggerOptions(
  options: ServerLogOptions | false | undefined,
): NonNullable<FastifyServerOptions["logger"]> {
  if (options === false) return false;
  return {
    level: options?.level ?? "info",
    ...(options?.stream ? { stream: options.stream } : {}),
    redact: { paths: redactedPaths, censor: "<redacted>" },
    serializers: {
      req: (request: { method: string; url: string; id: string }) => ({
        id: request.id,
        method: request.method,
        path: request.url.split("?")[0] ?? "",
      }),
    },
  };
}
