import {
  type CryptoDefinition,
  type CryptoHandler,
  type CryptoHandlerDeps,
  type CryptoHandlerRegistry,
  createCryptoHandlerRegistry,
} from "@capflow/core";
import { mirrorCryptoDefinition, type PartnerKeySet } from "@capflow/core/internal";

/**
 * The funder's side of a channel's crypto scheme, for the mock funder: the channel's own `crypto`
 * block run in the opposite direction with the funder's keys (for the `configurable` handler,
 * see `mirrorCryptoDefinition`). The engine's keys never reach the mock: it holds what the real
 * funder holds.
 *
 * ```ts
 * const handler = await createFunderCryptoHandler(channel.crypto, partnerKeys, {
 *   secrets: createDefaultSecretResolver(),
 *   baseDir: "examples/lanbank/definitions",
 * });
 * ```
 *
 * Pass `registry` when the channel uses a handler you registered yourself; such a handler must
 * know how to act as the funder from its own options.
 */
export function createFunderCryptoHandler(
  crypto: CryptoDefinition,
  funderKeys: PartnerKeySet,
  deps: CryptoHandlerDeps & { readonly registry?: CryptoHandlerRegistry },
): Promise<CryptoHandler> {
  const { registry = createCryptoHandlerRegistry(), ...handlerDeps } = deps;
  return registry.create(mirrorCryptoDefinition(crypto, funderKeys), handlerDeps);
}
