import type { MessageTemplate } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import { CompiledMessageTemplate, type RenderedMessage } from "./compile-message-template.ts";
import { type RenderOptions, type RenderScope, RenderSession } from "./render-session.ts";

export interface RenderMessageOptions extends RenderOptions {
  /** The interface path template, rendered in the same session (values percent-encoded). */
  path?: string;
}

const defaultMaxPasses = 8;

/**
 * Renders a step's request: body, headers, query (and path) with one processor memo.
 *
 * Handlebars helpers are synchronous, processors may be async. A pass renders the whole message;
 * a helper whose call is still running yields a placeholder and the pass is marked incomplete;
 * the running calls (started during the pass, so they run concurrently) are awaited and the
 * message is rendered again, now finding their values in the memo. Nested async calls need one
 * pass per level; all-synchronous messages need exactly one.
 */
export async function renderMessage(
  template: MessageTemplate,
  scope: RenderScope,
  options: RenderMessageOptions,
): Promise<RenderedMessage> {
  const compiled = compiledTemplateFor(template, options.path, options.missing === "error");
  return renderCompiledMessage(compiled, scope, options);
}

export async function renderCompiledMessage(
  compiled: CompiledMessageTemplate,
  scope: RenderScope,
  options: RenderOptions,
): Promise<RenderedMessage> {
  const session = new RenderSession(scope, options);
  const maxPasses = options.maxPasses ?? defaultMaxPasses;
  for (let pass = 1; pass <= maxPasses; pass++) {
    if (session.signal.aborted) throw session.signal.reason;
    try {
      compiled.renderPass(session);
    } catch (error) {
      throw asRenderError(error, session);
    }
    if (session.waiting.length === 0) return compiled.assemble(session);
    await session.settleWaiting();
  }
  throw session.templateError(
    `The message of step "${scope.step}" still had async processor calls running after ${maxPasses} render passes; nest processor calls less deeply or raise maxPasses.`,
  );
}

function asRenderError(error: unknown, session: RenderSession): CapflowError {
  if (error instanceof CapflowError) return error;
  return session.templateError(
    `Template ${session.currentTemplate} of step "${session.scope.step}" failed to render: ${(error as Error).message}`,
    error,
  );
}

const cacheLimit = 500;
const byIdentity = new WeakMap<MessageTemplate, Map<string, CompiledMessageTemplate>>();
const byText = new Map<string, CompiledMessageTemplate>();

/**
 * Compiled templates, cached: by template object (definitions are loaded once and reused), then
 * by template text in a bounded LRU (so definitions re-read from the store do not recompile).
 */
export function compiledTemplateFor(
  template: MessageTemplate,
  path?: string,
  strict = false,
): CompiledMessageTemplate {
  const variant = `${strict ? "s" : "e"}${path ?? ""}`;
  const forTemplate = byIdentity.get(template);
  const known = forTemplate?.get(variant);
  if (known !== undefined) return known;
  const textKey = `${variant}\u0000${JSON.stringify(template)}`;
  let compiled = byText.get(textKey);
  if (compiled === undefined) {
    compiled = new CompiledMessageTemplate(template, {
      ...(path === undefined ? {} : { path }),
      strict,
    });
    if (byText.size >= cacheLimit) byText.delete(byText.keys().next().value!);
  } else {
    byText.delete(textKey);
  }
  byText.set(textKey, compiled);
  if (forTemplate === undefined) byIdentity.set(template, new Map([[variant, compiled]]));
  else forTemplate.set(variant, compiled);
  return compiled;
}
