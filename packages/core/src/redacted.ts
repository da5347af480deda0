import { inspect } from "node:util";

const secretValues = new WeakMap<Redacted<unknown>, unknown>();

/**
 * A secret value (key material, password, API key) that prints as `<redacted>` in logs,
 * `JSON.stringify`, `util.inspect` and template strings. The value is read only with
 * {@link Redacted.reveal}, which makes every use of a secret easy to find.
 */
export class Redacted<T = string> {
  private constructor(value: T) {
    secretValues.set(this, value);
  }

  static of<T>(value: T): Redacted<T> {
    return new Redacted(value);
  }

  static reveal<T>(secret: Redacted<T>): T {
    return secretValues.get(secret) as T;
  }

  toString(): string {
    return "<redacted>";
  }

  toJSON(): string {
    return "<redacted>";
  }

  [inspect.custom](): string {
    return "<redacted>";
  }
}
