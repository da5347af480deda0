import type { ProcessorContext, ProcessorDeclaration } from "./processor-types.ts";

/**
 * `@processor(...)`: declares a class method as a processor. A TC39 standard method decorator
 * that only records the declaration; `registry.registerAll(instance)` later finds the decorated
 * methods and registers them bound to the instance.
 *
 * Why a WeakMap keyed by the method function rather than `context.metadata`: Node 20 has no
 * `Symbol.metadata`, so `context.metadata` is undefined without a polyfill; and `addInitializer`
 * would register on construction, coupling classes to one global registry. The WeakMap keeps the
 * decorator a pure annotation, and registration explicit.
 */

type Declared = Omit<ProcessorDeclaration, "name"> & { name?: string };

interface DecoratedMethod {
  declaration: ProcessorDeclaration;
}

const declarations = new WeakMap<object, DecoratedMethod>();

// biome-ignore lint/suspicious/noExplicitAny: a processor's own argument types vary; any keeps the decorator usable on every signature
type ProcessorMethod<This> = (this: This, ctx: ProcessorContext, ...args: any[]) => unknown;

/** Declares the decorated method as a processor; `name` defaults to the method name. */
export function processor(declaration: Declared) {
  return <This, Method extends ProcessorMethod<This>>(
    method: Method,
    context: ClassMethodDecoratorContext<This, Method>,
  ): void => {
    if (context.private || context.static) {
      throw new TypeError(
        `@processor applies to public instance methods (${String(context.name)} is ${context.private ? "private" : "static"}).`,
      );
    }
    declarations.set(method, {
      declaration: { ...declaration, name: declaration.name ?? String(context.name) },
    });
  };
}

export interface DeclaredProcessor {
  declaration: ProcessorDeclaration;
  method: (...args: never[]) => unknown;
  methodName: string;
}

/** The `@processor` methods of an object, walking its prototype chain (subclass wins). */
export function declaredProcessorsOf(instance: object): DeclaredProcessor[] {
  const found: DeclaredProcessor[] = [];
  const seen = new Set<string>();
  for (
    let proto = Object.getPrototypeOf(instance) as object | null;
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === "constructor" || seen.has(key)) continue;
      const value = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
      if (typeof value !== "function") continue;
      // An override hides the parent's method, decorated or not.
      seen.add(key);
      const declared = declarations.get(value);
      if (declared === undefined) continue;
      found.push({
        declaration: declared.declaration,
        method: value as (...args: never[]) => unknown,
        methodName: key,
      });
    }
  }
  return found;
}
