import { createRequire } from "node:module";
import { Bench } from "tinybench";
import type { BenchComparison } from "../../../bench/run.ts";
import type { MessageTemplate } from "../src/definition/types.ts";
import { toCents, toYuan } from "../src/message/builtin-processors/amount-processors.ts";
import { formatDate } from "../src/message/builtin-processors/date-processors.ts";
import { serialNumber } from "../src/message/builtin-processors/identifier-processors.ts";
import { registerBuiltinProcessors } from "../src/message/builtin-processors/register-builtin-processors.ts";
import { jsonCodec } from "../src/message/codecs/json-codec.ts";
import { maskValue } from "../src/message/mask.ts";
import { ProcessorRegistry } from "../src/message/processor-registry.ts";
import type { ProcessorContext } from "../src/message/processor-types.ts";
import { renderMessage } from "../src/message/render-message.ts";
import type { RenderScope } from "../src/message/render-session.ts";

/**
 * A loan-apply request of 30 fields with 10 processor calls, rendered by renderMessage (and
 * encoded to JSON), next to the bare primitive: one plain Handlebars template producing the same
 * JSON text with synchronous helpers. Target: ours at least half as fast.
 */
const require = createRequire(import.meta.url);
const Handlebars = require("handlebars") as typeof import("handlebars");

const plainFields = Array.from({ length: 20 }, (_, i) => `f${i}`);

const template: MessageTemplate = {
  format: "json",
  body: {
    serialNo: '{{serialNo "AC"}}',
    reqTime: '{{formatDate (now) "yyyyMMddHHmmss"}}',
    reqDate: '{{formatDate (now) "yyyy-MM-dd"}}',
    amount: "{{toCents input.amount}}",
    fee: "{{toCents input.fee}}",
    amountYuan: "{{toYuan input.cents}}",
    maskedId: "{{mask input.idNo 'idCard'}}",
    branch: "{{padStart input.branch 6 '0'}}",
    product: "{{substring input.product 0 4}}",
    term: "{{input.term}}",
    ...Object.fromEntries(plainFields.map((field) => [field, `{{input.${field}}}`])),
  },
};

const plainText = `{${[
  '"serialNo":"{{serialNo "AC"}}"',
  '"reqTime":"{{formatDate (now) "yyyyMMddHHmmss"}}"',
  '"reqDate":"{{formatDate (now) "yyyy-MM-dd"}}"',
  '"amount":{{toCents input.amount}}',
  '"fee":{{toCents input.fee}}',
  '"amountYuan":"{{toYuan input.cents}}"',
  `"maskedId":"{{mask input.idNo 'idCard'}}"`,
  `"branch":"{{padStart input.branch 6 '0'}}"`,
  '"product":"{{substring input.product 0 4}}"',
  '"term":{{input.term}}',
  ...plainFields.map((field) => `"${field}":"{{input.${field}}}"`),
].join(",")}}`;

const scope: RenderScope = {
  input: {
    amount: "12345.67",
    fee: "12.5",
    cents: 1234567,
    idNo: "110101199003071234",
    branch: 42,
    product: "CASHLOAN",
    term: 12,
    ...Object.fromEntries(plainFields.map((field, i) => [field, `value ${i}`])),
  },
  context: {},
  channel: { code: "acme", timeZone: "Asia/Shanghai" },
  step: "apply",
  attempt: { instanceId: "01J0000000000000000000000", number: 1, startedAt: 1_763_700_000_000 },
};

const registry = registerBuiltinProcessors(new ProcessorRegistry());
const clock = { now: () => 1_763_700_000_000 };

function plainHandlebars() {
  const hb = Handlebars.create();
  const ctx = { channel: scope.channel, step: scope.step, attempt: scope.attempt, now: clock.now };
  hb.registerHelper({
    serialNo: (prefix: string) => serialNumber(ctx as unknown as ProcessorContext, prefix),
    now: () => clock.now(),
    formatDate: (value: unknown, pattern: string) => formatDate(value, pattern, "Asia/Shanghai"),
    toCents: (value: unknown) => toCents(value),
    toYuan: (value: unknown) => toYuan(value),
    mask: (value: unknown, style: "idCard") => maskValue(value, style),
    padStart: (value: unknown, n: number, fill: string) => String(value).padStart(n, fill),
    substring: (value: unknown, start: number, end: number) => String(value).substring(start, end),
  });
  return hb.compile(plainText, { noEscape: true });
}

export const comparisons: BenchComparison[] = [
  {
    measured: "renderMessage + JSON encode",
    baseline: "plain Handlebars JSON text (sync helpers)",
    atLeast: 0.5,
  },
];

export const rounds = 3;

export default async function messageBench(): Promise<Bench> {
  const plain = plainHandlebars();
  // Same output, or the comparison would be meaningless.
  const ours = await renderMessage(template, scope, { registry, clock });
  const theirs = JSON.parse(plain(scope)) as unknown;
  if (JSON.stringify(ours.body) !== JSON.stringify(theirs)) {
    throw new Error(
      `bench templates differ:\n${JSON.stringify(ours.body)}\n${JSON.stringify(theirs)}`,
    );
  }
  const bench = new Bench({ time: 800, warmupTime: 200 });
  bench.add("renderMessage (30 fields, 10 processor calls)", async () => {
    await renderMessage(template, scope, { registry, clock });
  });
  bench.add("renderMessage + JSON encode", async () => {
    const rendered = await renderMessage(template, scope, { registry, clock });
    jsonCodec.encode(rendered.body);
  });
  bench.add("plain Handlebars JSON text (sync helpers)", () => {
    plain(scope);
  });
  return bench;
}
