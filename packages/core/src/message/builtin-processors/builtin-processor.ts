import type { ProcessorDeclaration, ProcessorFunction } from "../processor-types.ts";

/** A processor shipped with capflow, registered by `registerBuiltinProcessors`. */
export interface BuiltinProcessor {
  declaration: ProcessorDeclaration;
  fn: ProcessorFunction;
}
