import { type CryptoHandlerRegistry, plainCryptoHandler } from "@capflow/core";

/**
 * A crypto handler module as `capflow validate|push|worker --crypto-handlers` loads it: a funder
 * scheme written in code, with its own option checks.
 */
export function registerCryptoHandlers(registry: CryptoHandlerRegistry): void {
  registry.register("acme-sign", {
    name: "acme-sign",
    validateOptions(options) {
      const keyRef = (options as { keyRef?: unknown } | null)?.keyRef;
      return typeof keyRef === "string" && keyRef.startsWith("env:")
        ? []
        : [{ pointer: "/keyRef", message: "keyRef must be an env: reference to Acme's key" }];
    },
    create: (_options, deps) => plainCryptoHandler.create({}, deps),
  });
}
