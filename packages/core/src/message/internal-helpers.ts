import type { HelperDelegate, HelperOptions } from "./handlebars-environment.ts";
import { toMessageValue } from "./message-value.ts";
import { PENDING, type RenderSession } from "./render-session.ts";
import { internalHelperNames } from "./template-ast.ts";

type SessionOptions = HelperOptions & { data: { capflowSession: RenderSession } };

/** Stores a value in its slot; the next slot's template becomes the one errors name. */
function setSlot(session: RenderSession, slot: number, value: unknown): string {
  session.slots[slot] = value;
  session.currentTemplate = session.pointers[slot + 1] ?? "";
  return "";
}

/**
 * The helpers compiled programs rely on, besides one helper per processor. Static: the render
 * session comes from Handlebars' `data`, so the table is built once per template.
 */
export const internalHelpers: Record<string, HelperDelegate> = {
  [internalHelperNames.set](slot: number, value: unknown, options: SessionOptions) {
    return setSlot(options.data.capflowSession, slot, value);
  },
  // `{{name}}` alone: a processor when one has that name (Handlebars' own precedence), else data.
  [internalHelperNames.named](slot: number, name: string, scope: unknown, options: SessionOptions) {
    const session = options.data.capflowSession;
    return setSlot(session, slot, namedValue(session, name, scope));
  },
  [internalHelperNames.namedValue](name: string, scope: unknown, options: SessionOptions) {
    return namedValue(options.data.capflowSession, name, scope);
  },
  [internalHelperNames.leaf](this: unknown, slot: number, options: SessionOptions) {
    const session = options.data.capflowSession;
    session.currentTemplate = session.pointers[slot] ?? "";
    return setSlot(session, slot, options.fn(this));
  },
  [internalHelperNames.uri](value: unknown, options: SessionOptions) {
    if (value === PENDING || value === undefined || value === null) return "";
    const encoded = encodeURIComponent(String(toMessageValue(value)));
    // "." and ".." survive any encoding (URLs resolve %2E%2E too): a value must not move the
    // request to another endpoint (`/loans/{{loanNo}}/cancel` with loanNo "..").
    if (encoded === "." || encoded === "..") {
      throw options.data.capflowSession.templateError(
        `a path value is "${encoded}", which would change the endpoint; check the data`,
      );
    }
    return encoded;
  },
};

function namedValue(session: RenderSession, name: string, scope: unknown): unknown {
  if (session.registry.hasProcessor(name)) return session.callFromHelper(name, []);
  return scope !== null && typeof scope === "object" && Object.hasOwn(scope, name)
    ? (scope as Record<string, unknown>)[name]
    : undefined;
}

/** Own properties only, like Handlebars with prototype access disabled. */
export function readPath(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
