import { describe, expect, test } from "vitest";
import { scanTemplateProcessors } from "../../src/definition/template-processors.ts";

function names(template: string): string[] {
  const scan = scanTemplateProcessors(template);
  if (!scan.ok) throw new Error(scan.message);
  return scan.processors.map((use) => use.name);
}

describe("scanTemplateProcessors", () => {
  test.each([
    ["{{amount}}", []],
    ["{{input.amount}}", []],
    ["{{@root.amount}}", []],
    ["{{../amount}}", []],
    ["{{toCents amount}}", ["toCents"]],
    ["{{serialNo prefix='LN'}}", ["serialNo"]],
    ["{{md5 (json body)}}", ["md5", "json"]],
    ["{{formatDate (now) 'yyyyMMdd'}}", ["formatDate", "now"]],
    ["{{#each items}}{{padStart this 4 '0'}}{{/each}}", ["padStart"]],
    ["{{#if ok}}{{uuid 1}}{{else}}{{nonce 8}}{{/if}}", ["uuid", "nonce"]],
    ["{{#items}}{{name}}{{/items}}", []],
    ["{{lookup map key}} {{log 'x'}} {{#with a}}{{b}}{{/with}} {{#unless a}}x{{/unless}}", []],
    ["{{mask (substring idNo 0 6) style='idCard'}}", ["mask", "substring"]],
  ])("%s uses %j", (template, expected) => {
    expect(names(template)).toEqual(expected);
  });

  test("reports positions of uses", () => {
    const scan = scanTemplateProcessors("line one\n  {{toYuan amount}}");
    expect(scan).toEqual({
      ok: true,
      processors: [{ name: "toYuan", line: 2, column: 3 }],
      roots: [{ name: "amount", line: 2, column: 12 }],
      paths: [{ name: "amount", parts: ["amount"], line: 2, column: 12 }],
    });
  });

  test.each([
    ["{{input.amount}}", ["input.amount"]],
    [
      "{{toCents input.loan.amount}} {{#if input.ok}}{{context.x}}{{/if}}",
      ["input.loan.amount", "input.ok", "context.x"],
    ],
    ["{{#each input.items}}{{name}}{{/each}}", ["input.items"]],
    ["{{input.items.[0].name}}", ["input.items.0.name"]],
  ])("%s reads the paths %j", (template, expected) => {
    const scan = scanTemplateProcessors(template);
    if (!scan.ok) throw new Error(scan.message);
    expect(scan.paths.map((use) => use.name)).toEqual(expected);
  });

  test.each([
    ["{{amount}}", ["amount"]],
    ["{{input.amount}} {{toCents context.fee}}", ["input", "context"]],
    ["{{@root.amount}} {{../amount}} {{this.amount}} {{./amount}} {{@index}}", []],
    ["{{serialNo prefix=input.prefix}}", ["input"]],
    ["{{md5 (json input.body)}}", ["input"]],
    ["{{#if input.ok}}{{attempt.serial}}{{else}}{{inptu.x}}{{/if}}", ["input", "attempt", "inptu"]],
    ["{{#unless flag}}x{{/unless}}", ["flag"]],
    // Inside #each, #with and block helpers names read other data: not roots.
    ["{{#each input.items}}{{name}} {{padStart code 4 '0'}}{{/each}}", ["input"]],
    ["{{#with input.customer}}{{name}}{{/with}}", ["input"]],
    ["{{#items}}{{name}}{{/items}}", ["items"]],
    ["{{lookup input.map key}}", ["input", "key"]],
  ])("%s reads %j at the root", (template, expected) => {
    const scan = scanTemplateProcessors(template);
    if (!scan.ok) throw new Error(scan.message);
    expect(scan.roots.map((use) => use.name)).toEqual(expected);
  });

  test("reports parse errors with a plain message and position", () => {
    expect(scanTemplateProcessors("a {{#if x}} b")).toEqual({
      ok: false,
      message: "the template ends too early (an unclosed `{{`, `(` or `{{#block}}`)",
      line: 1,
      column: 14,
    });
    expect(scanTemplateProcessors("{{x}")).toMatchObject({
      ok: false,
      message: "unexpected character inside `{{ }}`",
    });
  });
});
