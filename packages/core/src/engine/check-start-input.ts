import { compileInputSchema } from "../definition/input-schema.ts";
import type { BehaviorDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import { findNulByte } from "../message/nul-bytes.ts";

/**
 * Refuses input that does not match the behavior's `inputSchema` with `INSTANCE_INPUT_INVALID`,
 * listing every field problem (`context.problems`: JSON pointer into the input and message; never
 * the values, which hold personal data). Called before anything is stored.
 */
export function checkStartInput(
  behavior: BehaviorDefinition,
  input: Record<string, unknown>,
): void {
  const nul = findNulByte(input);
  if (nul !== undefined) {
    throw new CapflowError(
      "INSTANCE_INPUT_INVALID",
      `the input holds a NUL character (U+0000) at ${nul}, which cannot be stored; remove it and start again`,
      { context: { channel: behavior.channel, behavior: behavior.code, pointer: nul } },
    );
  }
  if (behavior.inputSchema === undefined) return;
  const compiled = compileInputSchema(behavior.inputSchema);
  const where = { channel: behavior.channel, behavior: behavior.code };
  if (!compiled.ok) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `the input schema of ${behavior.channel}/${behavior.code} does not compile: ${compiled.message}; fix it and push again (capflow validate shows it)`,
      { context: { ...where, pointer: "/inputSchema" } },
    );
  }
  const problems = compiled.validate(input);
  if (problems.length === 0) return;
  const list = problems.map((p) => `${p.pointer || "(input)"} ${p.message}`).join("; ");
  throw new CapflowError(
    "INSTANCE_INPUT_INVALID",
    `the input does not match the input schema of ${behavior.channel}/${behavior.code}: ${list}; fix the input and start again`,
    { context: { ...where, problems } },
  );
}
