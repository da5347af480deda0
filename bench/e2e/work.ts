/**
 * The work both pipelines of the end-to-end bench do per instance: a 30-field JSON request
 * rendered from the instance's input, sent to the loopback funder's apply endpoint.
 */

/** The 29 fields besides `applyNo`, each rendered from the input field of the same name. */
export const requestFields = Array.from(
  { length: 29 },
  (_, i) => `field${String(i + 1).padStart(2, "0")}`,
);

/** One instance's input: a business number and 29 text values of realistic length. */
export function inputFor(businessKey: string): Record<string, string> {
  const input: Record<string, string> = { applyNo: businessKey };
  for (const [i, name] of requestFields.entries())
    input[name] = `${name}-${businessKey}-${i * 7919}`;
  return input;
}

/** The request as a Handlebars template over the input (the reference pipeline's form). */
export const requestTemplateText = `{${[
  `"applyNo":"{{applyNo}}"`,
  ...requestFields.map((name) => `"${name}":"{{${name}}}"`),
].join(",")}}`;

/** The same request as a capflow step's body template. */
export const requestBodyTemplate: Record<string, string> = {
  applyNo: "{{input.applyNo}}",
  ...Object.fromEntries(requestFields.map((name) => [name, `{{input.${name}}}`])),
};
