/** JSON schemas shared by the operator API's routes (validated by Fastify, extra fields refused). */

export const reasonSchema = {
  type: "string",
  minLength: 3,
  maxLength: 500,
  // At least 3 characters once blanks around it are trimmed (`checkReason` says so in words).
  pattern: "\\S[\\s\\S]+\\S",
  description: "why: recorded in the history with the operator's name",
} as const;

export const expectedVersionSchema = {
  type: "integer",
  minimum: 1,
  description: "the instance's version as the operator saw it; a newer one refuses with 409",
} as const;

export const idParamsSchema = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  // No NUL: no id holds one, and the database cannot compare it (a 400, not a failed query).
  properties: { id: { type: "string", minLength: 1, maxLength: 200, pattern: "^[^\\u0000]*$" } },
} as const;

/** Body of retry and cancel. */
export const actionBodySchema = {
  type: "object",
  required: ["reason", "expectedVersion"],
  additionalProperties: false,
  properties: { reason: reasonSchema, expectedVersion: expectedVersionSchema },
} as const;

export const moveBodySchema = {
  type: "object",
  required: ["step", "reason", "expectedVersion"],
  additionalProperties: false,
  properties: {
    step: { type: "string", minLength: 1, maxLength: 200, pattern: "^[^\\u0000]*$" },
    reason: reasonSchema,
    expectedVersion: expectedVersionSchema,
    callNotProcessed: {
      type: "boolean",
      description:
        "the partner confirmed it did not process the call whose outcome is unknown (in flight, or never settled): a move back to its step may send it again, with a new serial",
    },
  },
} as const;
