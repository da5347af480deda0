import type { UpstreamClientDefinition } from "./client-types.ts";

/**
 * A client whose `allow` lists no behavior and no product: the intake refuses everything it asks
 * (403), so it is retired. Clients cannot be deleted from the definition store; pushing one with
 * `"allow": {}` is how it stops being served, and its key stops being one capflow uses.
 */
export function isRetiredClient(client: UpstreamClientDefinition): boolean {
  return (client.allow.behaviors ?? []).length === 0 && (client.allow.products ?? []).length === 0;
}
