import { errorCodes, publicError } from "@capflow/core/internal";

/** A constant as a SQL string literal; knex would read `?` in it as a binding, so none may hold one. */
function literal(text: string): string {
  if (text.includes("?")) throw new Error(`a public error sentence holds "?": ${text}`);
  return `'${text.replaceAll("'", "''")}'`;
}

const byCode = literal(
  JSON.stringify(
    Object.fromEntries(errorCodes.map((code) => [code, publicError({ code, message: "" })])),
  ),
);
const fallback = literal(publicError({ code: "", message: "" }).message);

/**
 * SQL for the public form (`publicError` in core) of the stored error in the jsonb `column`, for
 * notifications a statement writes to the upstream: the code, its default `retryable` and its
 * fixed sentence; a code capflow does not know gets the general sentence. Null stays null.
 */
export function publicErrorSql(column: string): string {
  return `CASE WHEN ${column} IS NULL OR jsonb_typeof(${column}) = 'null' THEN NULL::jsonb
    ELSE COALESCE(${byCode}::jsonb -> (${column} ->> 'code'),
      jsonb_build_object('code', ${column} ->> 'code', 'retryable', false, 'message', ${fallback}::text))
    END`;
}
