/**
 * Whether a body is empty: no bytes, or only whitespace. A GET or DELETE carries no body and a
 * `204` answers with none, yet both may be signed (over the empty string); every codec decodes
 * such a body as an empty message (`{}`, or `""` as text) instead of failing on it.
 */
export function isEmptyBody(text: string): boolean {
  return text.length === 0 || text.trim().length === 0;
}
