import { CapflowError } from "../errors.ts";
import type { HelperDelegate, HelperOptions } from "./handlebars-environment.ts";
import type { ProcessorRegistry } from "./processor-registry.ts";
import type { RenderSession } from "./render-session.ts";

type Options = HelperOptions & {
  name: string;
  data: { capflowSession: RenderSession };
};

const cache = new WeakMap<
  ProcessorRegistry,
  { version: number; helpers: Record<string, HelperDelegate> }
>();

/**
 * One Handlebars helper per processor, built once per registry version. A helper takes the
 * render session from Handlebars' `data` (so the table is shared by all renders) and asks it for
 * the memoised value. Hash arguments are matched to parameters by name:
 * `{{padStart input.no length=10 fill="0"}}` is `padStart(input.no, 10, "0")`.
 */
export function processorHelpers(registry: ProcessorRegistry): Record<string, HelperDelegate> {
  const cached = cache.get(registry);
  if (cached !== undefined && cached.version === registry.version) return cached.helpers;
  const helpers: Record<string, HelperDelegate> = {
    helperMissing(...args: unknown[]) {
      const options = args.pop() as Options;
      // `{{name}}` with neither a helper nor data: missing data, not a call (Handlebars' rule).
      if (args.length === 0) return undefined;
      return options.data.capflowSession.callFromHelper(options.name, args);
    },
  };
  for (const name of registry.names()) {
    const params = registry.get(name)!.metadata.params;
    helpers[name] = (...args: unknown[]) => {
      const options = args.pop() as Options;
      const hash = options.hash as Record<string, unknown> | undefined;
      if (hash !== undefined) {
        for (const key of Object.keys(hash)) {
          const index = params.findIndex((param) => param.name === key);
          if (index === -1) {
            const session = options.data.capflowSession;
            throw new CapflowError(
              "PROCESSOR_ARITY",
              `Template ${session.currentTemplate} of step "${session.scope.step}" passes "${key}" to processor "${name}", which has no such parameter (parameters: ${params.map((p) => p.name).join(", ") || "none"}).`,
              {
                context: {
                  channel: session.scope.channel.code,
                  step: session.scope.step,
                  template: session.currentTemplate,
                  processor: name,
                },
              },
            );
          }
          while (args.length < index) args.push(undefined);
          args[index] = hash[key];
        }
      }
      return options.data.capflowSession.callFromHelper(name, args);
    };
  }
  cache.set(registry, { version: registry.version, helpers });
  return helpers;
}
