import { createRequire } from "node:module";

// Handlebars is CommonJS typed with `export =`; without esModuleInterop the type-safe way to load
// it from ESM is require().
const require = createRequire(import.meta.url);
const Handlebars = require("handlebars") as typeof import("handlebars");

/**
 * The private Handlebars environment of the message pipeline. Private so that helpers and
 * partials registered by an application on the global `Handlebars` never leak into partner
 * messages; processors reach templates as runtime helpers instead (see processor-helpers).
 */
export const handlebars: typeof Handlebars = Handlebars.create();
// `log` would write message data (personal data) to the console; `lookup` is a processor here.
handlebars.unregisterHelper("log");
handlebars.unregisterHelper("lookup");

/**
 * Compile options. `noEscape`: HTML escaping would corrupt data (`&` in a name, `<` in a note);
 * the codecs escape for the wire format instead. Prototype access stays at Handlebars' safe
 * default (disabled) because runtime options never enable it.
 */
export function compileOptions(strict: boolean): CompileOptions {
  return { noEscape: true, strict, knownHelpersOnly: false };
}

export type HelperDelegate = Handlebars.HelperDelegate;
export type HelperOptions = Handlebars.HelperOptions;
export type TemplateDelegate = Handlebars.TemplateDelegate;
