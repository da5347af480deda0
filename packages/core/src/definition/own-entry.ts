/**
 * The entry of a definition map (accounts, interfaces, callbacks, quotas…) under `key`, when the
 * map holds it itself. The maps are plain objects, so a key from outside (a URL, a statement's
 * cell, a stored record, a name in another definition) such as "constructor" or "__proto__"
 * must find nothing rather than one of Object's members.
 */
export function ownEntry<T>(
  map: Readonly<Record<string, T>> | undefined,
  key: string | null | undefined,
): T | undefined {
  return map !== undefined && key != null && Object.hasOwn(map, key) ? map[key] : undefined;
}
