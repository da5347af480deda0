/**
 * What validation needs to know about the registries supplied at run time. They are structural
 * on purpose: the processor registry (message/) and the crypto handler registry (crypto/) satisfy
 * them without depending on definition/, and tests can pass small stubs.
 */

/** Answers whether a processor (a template helper) of that name is registered. */
export interface KnownProcessors {
  hasProcessor(name: string): boolean;
}

/** Answers whether a crypto handler is registered, and optionally checks its options. */
export interface KnownCryptoHandlers {
  hasHandler(name: string): boolean;
  /** Problems in a handler's options; `pointer` is relative to the channel's `crypto.options`. */
  validateOptions?(
    name: string,
    options: Record<string, unknown>,
  ): readonly { pointer?: string; message: string }[];
}
