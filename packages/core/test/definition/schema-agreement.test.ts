import { describe, expect, test } from "vitest";
import {
  type DefinitionKind,
  definitionSchema,
  isBehaviorDefinition,
  isChannelDefinition,
  isProductDefinition,
} from "../../src/definition/json-schema.ts";
import type { ProductChannel, ProductDefinition } from "../../src/definition/product-types.ts";
import type {
  AccountDefinition,
  AcknowledgementDefinition,
  BehaviorDefinition,
  BreakerDefinition,
  CalendarDefinition,
  CallbackDefinition,
  CallbackStep,
  CallStep,
  ChannelDefinition,
  ChannelTlsDefinition,
  CryptoDefinition,
  DecideStep,
  DelayStep,
  FutureValues,
  InterfaceDefinition,
  MaskingRules,
  MessageTemplate,
  PollStep,
  QuotaLimit,
  QuotaLimits,
  RateLimit,
  ResponseDefinition,
  RetryPolicy,
  Route,
  StatusMapping,
  StatusTable,
  TerminalStep,
  XmlOptions,
} from "../../src/definition/types.ts";

/*
 * The JSON Schemas and types.ts describe the same model. Each `shape<T>()` call below lists the
 * required and optional keys of a TypeScript type and fails to type-check (`pnpm typecheck`)
 * when the lists are not exactly the type's keys; the tests then compare the lists with the
 * schema's `properties` and `required`.
 */

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

function shape<T>() {
  return <const R extends readonly RequiredKeys<T>[], const O extends readonly OptionalKeys<T>[]>(
    required: R &
      (Same<R[number], RequiredKeys<T>> extends true ? unknown : "list every required key"),
    optional: O &
      (Same<O[number], OptionalKeys<T>> extends true ? unknown : "list every optional key"),
  ) => ({ required: [...required].map(String).sort(), optional: [...optional].map(String).sort() });
}

const channelShapes = {
  "": shape<ChannelDefinition>()(
    ["code", "name", "baseUrl", "timeZone", "crypto", "interfaces"],
    [
      "$schema",
      "callbacks",
      "statusTable",
      "masking",
      "constants",
      "userAgent",
      "bulkhead",
      "tls",
      "accounts",
      "accountSelection",
      "quotas",
      "future",
      "charset",
      "description",
      "sla",
      "calendar",
    ],
  ),
  calendar: shape<CalendarDefinition>()(
    [],
    ["serviceWindows", "workingDaysOnly", "holidays", "cutoff", "atCutoff", "interfaces"],
  ),
  account: shape<AccountDefinition>()(
    [],
    ["description", "when", "values", "crypto", "tls", "quotas", "concurrency", "rate"],
  ),
  quotaLimits: shape<QuotaLimits>()([], ["daily", "total"]),
  quotaLimit: shape<QuotaLimit>()([], ["amount", "count"]),
  futureValues: shape<FutureValues>()(["effectiveFrom", "values"], ["overlap", "description"]),
  tls: shape<ChannelTlsDefinition>()([], ["clientKey", "clientCertificate", "ca", "serverName"]),
  interface: shape<InterfaceDefinition>()(
    ["method", "path"],
    [
      "timeout",
      "connectTimeout",
      "concurrency",
      "rate",
      "breaker",
      "retry",
      "idempotent",
      "deduplicatesSerial",
      "statusTable",
      "charset",
    ],
  ),
  retryPolicy: shape<RetryPolicy>()(["schedule"], ["on"]),
  rateLimit: shape<RateLimit>()(["limit", "per"], []),
  breaker: shape<BreakerDefinition>()(
    [],
    ["failureRate", "sampleSize", "minimumCalls", "consecutiveTimeouts", "cooldown"],
  ),
  statusTable: shape<StatusTable>()(["code", "codes"], ["unsigned", "default"]),
  statusMapping: shape<StatusMapping>()(["outcome"], ["retryable", "notProcessed", "description"]),
  callback: shape<CallbackDefinition>()(
    ["format", "correlation", "dedupeKey", "ack"],
    ["match", "extract", "statusTable", "charset", "keepRawBody"],
  ),
  acknowledgement: shape<AcknowledgementDefinition>()(
    ["format"],
    ["status", "body", "headers", "rejectBody", "rejectStatus", "xml"],
  ),
  masking: shape<MaskingRules>()(["fields"], []),
  crypto: shape<CryptoDefinition>()(["handler"], ["options"]),
};

const behaviorShapes = {
  "": shape<BehaviorDefinition>()(
    ["channel", "code", "initial", "steps"],
    ["$schema", "version", "description", "masking", "inputSchema", "sla", "cache"],
  ),
  messageTemplate: shape<MessageTemplate>()(["format"], ["body", "headers", "query", "xml"]),
  xmlOptions: shape<XmlOptions>()(["root"], ["attributes", "cdata", "declaration", "trim"]),
  response: shape<ResponseDefinition>()([], ["format", "extract"]),
  route: shape<Route>()(["when", "to"], []),
  retryPolicy: shape<RetryPolicy>()(["schedule"], ["on"]),
  masking: shape<MaskingRules>()(["fields"], []),
  callStep: shape<CallStep>()(
    ["kind", "interface", "request"],
    [
      "description",
      "response",
      "idempotent",
      "retry",
      "routes",
      "otherwise",
      "onUnknownOutcome",
      "onRetryExhausted",
      "movesMoney",
      "moneyMoved",
      "sla",
    ],
  ),
  pollStep: shape<PollStep>()(
    ["kind", "interface", "request", "schedule", "routes", "onExhausted"],
    ["description", "response", "moneyMoved", "sla", "onNotReceived"],
  ),
  callbackPoll: shape<NonNullable<CallbackStep["poll"]>>()(
    ["interface", "request", "schedule"],
    ["response"],
  ),
  callbackStep: shape<CallbackStep>()(
    ["kind", "callback", "deadline", "onDeadline"],
    ["description", "poll", "routes", "otherwise", "moneyMoved", "sla"],
  ),
  delayStep: shape<DelayStep>()(["kind", "duration", "next"], ["description", "moneyMoved", "sla"]),
  decideStep: shape<DecideStep>()(
    ["kind", "routes", "otherwise"],
    ["description", "moneyMoved", "sla"],
  ),
  terminalStep: shape<TerminalStep>()(
    ["kind", "outcome"],
    ["description", "moneyMoved", "failover"],
  ),
};

const productShapes = {
  "": shape<ProductDefinition>()(
    ["code", "name", "channels"],
    ["$schema", "description", "amount", "amountScale", "customer", "customerRouting", "failover"],
  ),
  productChannel: shape<ProductChannel>()(["channel", "behavior", "weight"], ["when", "quotas"]),
  quotaLimits: shape<QuotaLimits>()([], ["daily", "total"]),
  quotaLimit: shape<QuotaLimit>()([], ["amount", "count"]),
};

interface ObjectSchema {
  properties: Record<string, unknown>;
  required?: string[];
}

function objectSchema(kind: DefinitionKind, definition: string): ObjectSchema {
  const schema = definitionSchema(kind) as unknown as ObjectSchema & {
    definitions: Record<string, ObjectSchema>;
  };
  return definition === "" ? schema : schema.definitions[definition]!;
}

describe("the JSON Schemas agree with types.ts", () => {
  test.each([
    ...Object.entries(channelShapes).map(([name, keys]) => ["channel", name, keys] as const),
    ...Object.entries(behaviorShapes).map(([name, keys]) => ["behavior", name, keys] as const),
    ...Object.entries(productShapes).map(([name, keys]) => ["product", name, keys] as const),
  ])("%s schema, definition %j", (kind, name, keys) => {
    const schema = objectSchema(kind, name);
    expect(Object.keys(schema.properties).sort()).toEqual(
      [...keys.required, ...keys.optional].sort(),
    );
    expect([...(schema.required ?? [])].sort()).toEqual(keys.required);
  });

  test("every property of both schemas has a description, for editor help", () => {
    const missing: string[] = [];
    const visit = (node: unknown, path: string) => {
      if (typeof node !== "object" || node === null) return;
      const record = node as Record<string, unknown>;
      const properties = record.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, property] of Object.entries(properties ?? {})) {
        const described =
          typeof property.description === "string" ||
          (typeof property.$ref === "string" && property.$ref.startsWith("#/definitions/"));
        if (!described) missing.push(`${path}/${key}`);
      }
      // `if` branches hold conditions on `kind`, not properties an author writes.
      for (const [key, value] of Object.entries(record)) {
        if (key !== "if") visit(value, `${path}/${key}`);
      }
    };
    visit(definitionSchema("channel"), "channel");
    visit(definitionSchema("behavior"), "behavior");
    visit(definitionSchema("product"), "product");
    expect(missing).toEqual([]);
  });

  test("a definition using every property type-checks and passes the schema", () => {
    const channel: ChannelDefinition = {
      $schema: "./channel.schema.json",
      code: "bank",
      name: "Bank",
      baseUrl: "https://bank.example.test",
      timeZone: "Asia/Shanghai",
      crypto: { handler: "configurable", options: { signature: { algorithm: "RSA-SHA256" } } },
      interfaces: {
        "loan.apply": {
          method: "POST",
          path: "/loan/{{product}}",
          timeout: "10s",
          connectTimeout: "500ms",
          concurrency: 8,
          rate: { limit: 50, per: "1s" },
          breaker: {
            failureRate: 0.5,
            sampleSize: 20,
            minimumCalls: 10,
            consecutiveTimeouts: 5,
            cooldown: "30s",
          },
          retry: { schedule: ["1s", "2s"], on: ["notSent", "partnerRetryable"] },
          idempotent: false,
          statusTable: {
            unsigned: "status == 400",
            code: "body.code",
            codes: {
              "0000": { outcome: "succeeded" },
              "9001": { outcome: "failed", notProcessed: true },
            },
            default: { outcome: "unknown", retryable: false, description: "?" },
          },
        },
      },
      callbacks: {
        "loan.result": {
          format: "form",
          correlation: "body.orderNo",
          dedupeKey: "body.notifyId",
          match: "has(body.orderNo)",
          extract: { status: "body.status" },
          statusTable: { code: "body.status", codes: { S: { outcome: "succeeded" } } },
          ack: {
            status: 200,
            format: "text",
            body: "SUCCESS",
            headers: { "X-Ack": "1" },
            rejectBody: "FAIL",
            rejectStatus: 400,
          },
        },
      },
      statusTable: { code: "body.code", codes: {} },
      masking: {
        fields: {
          idNo: "idCard",
          mobile: "phone",
          card: "bankCard",
          name: "name",
          mail: "email",
          pwd: "full",
        },
      },
      bulkhead: 4,
      accounts: {
        "shop-a": {
          description: "shop A",
          when: "input.shopId == 'A'",
          values: { merchantId: "M100" },
          crypto: { options: { signature: { algorithm: "RSA-SHA256" } } },
          tls: { serverName: "bank.example.test" },
          quotas: { loan: { daily: { amount: "100.00", count: 3 }, total: { count: 9 } } },
        },
      },
      accountSelection: "alternate",
      quotas: { loan: { daily: { amount: "5000000.00" } } },
      description: "all properties",
    };
    const behavior: BehaviorDefinition = {
      $schema: "./behavior.schema.json",
      channel: "bank",
      code: "loan",
      version: 2,
      description: "all step kinds",
      initial: "check",
      masking: { fields: { name: "name" } },
      steps: {
        check: {
          kind: "decide",
          routes: [{ when: "true", to: "apply" }],
          otherwise: "done",
          description: "d",
        },
        apply: {
          kind: "call",
          interface: "loan.apply",
          request: {
            format: "xml",
            body: { a: ["{{x}}", 1, true, null, { b: 2.5 }] },
            headers: { h: "{{y}}" },
            query: { q: "1" },
            xml: {
              root: "Request",
              attributes: { version: "1.0" },
              cdata: ["a"],
              declaration: false,
            },
          },
          response: { format: "xml", extract: { no: "body.no" } },
          idempotent: true,
          retry: { schedule: ["1s"], on: ["unknownOutcome", "invalidResponse"] },
          routes: [{ when: "true", to: "wait" }],
          otherwise: "wait",
          onUnknownOutcome: "query",
          onRetryExhausted: "done",
          movesMoney: true,
          description: "d",
        },
        wait: {
          kind: "callback",
          callback: "loan.result",
          deadline: "1d",
          onDeadline: "query",
          poll: {
            interface: "loan.apply",
            request: { format: "json" },
            response: {},
            schedule: ["2h"],
          },
          routes: [],
          otherwise: "pause",
          description: "d",
        },
        query: {
          kind: "poll",
          interface: "loan.apply",
          request: { format: "form" },
          response: { format: "json" },
          schedule: ["15s"],
          routes: [{ when: "true", to: "done" }],
          onExhausted: "done",
          description: "d",
        },
        pause: { kind: "delay", duration: "3m", next: "done", description: "d" },
        done: { kind: "terminal", outcome: "cancelled", description: "d", moneyMoved: false },
        declined: { kind: "terminal", outcome: "failed", failover: true },
      },
    };
    const product: ProductDefinition = {
      $schema: "./product.schema.json",
      code: "cash-loan",
      name: "Cash loan",
      description: "every property",
      amount: "input.amount",
      amountScale: 2,
      customer: "input.customerId",
      customerRouting: "sticky",
      failover: { maxChannels: 2 },
      channels: [
        {
          channel: "bank",
          behavior: "loan",
          when: "double(input.amount) <= 50000.0",
          weight: 3,
          quotas: { daily: { amount: "1000000.00", count: 100 }, total: { amount: "9.5" } },
        },
      ],
    };
    expect(isProductDefinition(product)).toBe(true);
    expect(
      isProductDefinition({ ...product, channels: [{ ...product.channels[0], weight: 0 }] }),
    ).toBe(false);
    expect(isProductDefinition({ ...product, amountScale: 7 })).toBe(false);
    expect(isProductDefinition({ ...product, amountScale: 1.5 })).toBe(false);
    expect(isChannelDefinition(channel)).toBe(true);
    expect(isBehaviorDefinition(behavior)).toBe(true);
    expect(
      isBehaviorDefinition({ ...behavior, steps: { x: { kind: "terminal", outcome: "lost" } } }),
    ).toBe(false);
  });
});
