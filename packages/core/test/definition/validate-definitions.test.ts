import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { where } from "./fixtures.ts";

const channel: ChannelDefinition = {
  code: "bank",
  name: "Bank",
  baseUrl: "https://bank.example.test",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "configurable" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan/apply", idempotent: true } },
};

const behavior: BehaviorDefinition = {
  channel: "bank",
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      request: { format: "json", body: { amount: "{{toCents input.amount}}" } },
      routes: [{ when: 'outcome == "succeeded"', to: "done" }],
      otherwise: "failed",
    },
    done: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
  },
};

describe("validateDefinitions", () => {
  test("validates parsed definitions from any source; problems carry no position", () => {
    const broken: BehaviorDefinition = {
      ...behavior,
      code: "repay",
      steps: {
        ...behavior.steps,
        apply: { ...behavior.steps.apply!, otherwise: "nowhere" } as never,
      },
    };
    const result = validateDefinitions({
      channels: [{ file: "db:channel/bank", definition: channel }],
      behaviors: [
        { file: "db:behavior/bank/loan", definition: behavior },
        { file: "db:behavior/bank/repay", definition: broken },
      ],
    });
    expect(result.channels).toEqual([channel]);
    expect(result.behaviors.map((item) => item.code)).toEqual(["loan", "repay"]);
    expect(result.problems).toEqual([
      {
        code: "unknown-step",
        file: "db:behavior/bank/repay",
        pointer: "/steps/apply/otherwise",
        message: 'step "nowhere" does not exist; define it under "steps" or fix the code',
      },
      {
        code: "unreachable-step",
        file: "db:behavior/bank/repay",
        pointer: "/steps/failed",
        message:
          'step "failed" cannot be reached from the initial step "apply"; route to it from another step or remove it',
      },
    ]);
  });

  test("checks processors only against the registry given", () => {
    const sources = {
      channels: [{ file: "c", definition: channel }],
      behaviors: [{ file: "b", definition: behavior }],
    };
    expect(validateDefinitions(sources).problems).toEqual([]);
    const none = { hasProcessor: () => false };
    expect(where(validateDefinitions(sources, { processors: none }).problems)).toEqual([
      ["b", "unknown-processor", "/steps/apply/request/body/amount"],
    ]);
  });

  test("an interface or callback named after an Object member is unknown", () => {
    const members: BehaviorDefinition = {
      ...behavior,
      steps: {
        ...behavior.steps,
        apply: { ...behavior.steps.apply!, interface: "constructor", otherwise: "wait" } as never,
        wait: {
          kind: "callback",
          callback: "toString",
          deadline: "1d",
          onDeadline: "failed",
          routes: [{ when: 'outcome == "succeeded"', to: "done" }],
          otherwise: "failed",
        },
      },
    };
    const withCallbacks: ChannelDefinition = {
      ...channel,
      callbacks: {
        "loan.result": {
          format: "json",
          correlation: "body.no",
          dedupeKey: "body.id",
          ack: { format: "json", body: { code: "0000" } },
        },
      },
    };
    const { problems } = validateDefinitions({
      channels: [{ file: "c", definition: withCallbacks }],
      behaviors: [{ file: "b", definition: members }],
    });
    expect(
      where(
        problems.filter((p) => p.code === "unknown-interface" || p.code === "unknown-callback"),
      ),
    ).toEqual([
      ["b", "unknown-interface", "/steps/apply/interface"],
      ["b", "unknown-callback", "/steps/wait/callback"],
    ]);
  });

  test("a channel that does not match the schema still counts as defined for its behaviors", () => {
    const result = validateDefinitions({
      channels: [{ file: "c", definition: { ...channel, bulkhead: 0 } }],
      behaviors: [{ file: "b", definition: behavior }],
    });
    expect(where(result.problems)).toEqual([["c", "schema", "/bulkhead"]]);
    expect(result.problems[0]?.message).toBe('"bulkhead" must be >= 1');
    expect(result.channels).toEqual([]);
  });

  test("an unparsable source only registers its code", () => {
    const result = validateDefinitions({
      channels: [{ file: "c", definition: { code: "bank", name: 1 }, unparsable: true }],
      behaviors: [{ file: "b", definition: behavior }],
    });
    expect(result.problems).toEqual([]);
  });

  test("rejects values that are not objects", () => {
    const result = validateDefinitions({
      channels: [{ file: "c", definition: [] }],
      behaviors: [{ file: "b", definition: "loan" }],
    });
    expect(result.problems).toEqual([
      {
        code: "schema",
        file: "b",
        pointer: "",
        message: "the definition must be an object (found a string)",
      },
      {
        code: "schema",
        file: "c",
        pointer: "",
        message: "the definition must be an object (found an array)",
      },
    ]);
  });
});

describe("channel tls settings", () => {
  const check = (tls: unknown) =>
    validateDefinitions({
      channels: [{ file: "bank.channel.json", definition: { ...channel, tls } as never }],
      behaviors: [],
    }).problems.map((problem) => [problem.code, problem.pointer]);

  test("complete settings pass: a PEM key with its chain, or PKCS#12 with a password", () => {
    expect(
      check({
        clientKey: { ref: "file:keys/client.key" },
        clientCertificate: "file:keys/client.crt",
        ca: ["file:keys/bank-ca.pem", "env:BANK_CA_2"],
        serverName: "api.bank.example",
      }),
    ).toEqual([]);
    expect(
      check({ clientKey: { ref: "file:c.p12", format: "pkcs12", password: "env:P12_PASSWORD" } }),
    ).toEqual([]);
  });

  test("incomplete or inlined settings are problems with a pointer", () => {
    expect(check({ clientKey: { ref: "file:keys/client.key" } })).toEqual([
      ["tls-settings", "/tls"],
    ]);
    expect(check({ clientKey: { ref: "file:c.p12", format: "pkcs12" } })).toEqual([
      ["tls-settings", "/tls/clientKey"],
    ]);
    expect(check({ clientCertificate: "file:keys/client.crt" })).toEqual([["schema", "/tls"]]);
    expect(
      check({
        clientKey: { ref: "-----BEGIN PRIVATE KEY-----" },
        clientCertificate: "file:c.crt",
      }),
    ).toEqual([["schema", "/tls/clientKey/ref"]]);
    expect(check({ ca: [] })).toEqual([["schema", "/tls/ca"]]);
    expect(check({ rejectUnauthorized: false })).toEqual([["schema", "/tls/rejectUnauthorized"]]);
  });
});

describe("charsets and XML acknowledgements", () => {
  const check = (changes: Record<string, unknown>) =>
    validateDefinitions({
      channels: [{ file: "bank.channel.json", definition: { ...channel, ...changes } as never }],
      behaviors: [],
    }).problems.map((problem) => [problem.code, problem.pointer]);
  const callback = {
    format: "xml",
    correlation: "body.loanNo",
    dedupeKey: "body.notifyId",
    ack: { format: "xml", xml: { root: "response" }, body: { code: "0000" } },
  };

  test("known charsets and an XML acknowledgement with its root pass", () => {
    expect(
      check({ charset: "GBK", callbacks: { "loan.result": { ...callback, charset: "GB18030" } } }),
    ).toEqual([]);
  });

  test("an unknown charset, and an XML acknowledgement without its root, are problems", () => {
    expect(check({ charset: "klingon" })).toEqual([["unknown-charset", "/charset"]]);
    const { xml: _, ...withoutXml } = callback.ack;
    expect(check({ callbacks: { "loan.result": { ...callback, ack: withoutXml } } })).toEqual([
      ["xml-options-missing", "/callbacks/loan.result/ack"],
    ]);
  });
});

describe("time zones", () => {
  const check = (timeZone: string) =>
    validateDefinitions({
      channels: [{ file: "bank.channel.json", definition: { ...channel, timeZone } as never }],
      behaviors: [],
    }).problems.map((problem) => [problem.code, problem.pointer, problem.message]);

  test("a zone the runtime knows passes", () => {
    expect(check("Asia/Shanghai")).toEqual([]);
    expect(check("UTC")).toEqual([]);
  });

  test("a misspelt zone is a problem naming the closest one, not a daily quota without days", () => {
    expect(check("Asia/Shangai")).toEqual([
      [
        "unknown-time-zone",
        "/timeZone",
        '"Asia/Shangai" is not a time zone (did you mean "Asia/Shanghai"?); use an IANA name such as Asia/Shanghai',
      ],
    ]);
  });
});

describe("calendar rules per interface and callback", () => {
  const check = (interfaces: Record<string, string[]>) =>
    validateDefinitions({
      channels: [
        {
          file: "bank.channel.json",
          definition: {
            ...channel,
            callbacks: {
              "loan.result": {
                format: "json",
                correlation: "body.loanNo",
                dedupeKey: "body.id",
                ack: { format: "json", body: { code: "0000" } },
              },
            },
            calendar: { serviceWindows: ["09:00-17:00"], interfaces },
          } as never,
        },
      ],
      behaviors: [],
    }).problems.map((problem) => [problem.code, problem.pointer, problem.message]);

  test("name the channel's interfaces and callbacks", () => {
    const names = Object.keys(channel.interfaces);
    expect(check({ [names[0] as string]: [], "loan.result": ["serviceWindows"] })).toEqual([]);
  });

  test("a name that is neither is a problem, with the closest name", () => {
    expect(check({ "loan.reslt": ["serviceWindows"] })).toEqual([
      [
        "unknown-calendar-interface",
        "/calendar/interfaces/loan.reslt",
        'calendar.interfaces names "loan.reslt", which is neither an interface nor a callback of channel bank (did you mean "loan.result"?)',
      ],
    ]);
  });
});

describe("callbacks that prove who sent them", () => {
  const callback = {
    format: "json",
    correlation: "body.loanNo",
    dedupeKey: "body.notifyId",
    ack: { format: "json", body: { code: "0000" } },
  };
  const signature = {
    algorithm: "rsa-sha256",
    canonical: { kind: "sortedFields" },
    placement: { in: "body", name: "sign" },
  };
  const check = (changes: Record<string, unknown>) =>
    validateDefinitions(
      {
        channels: [
          {
            file: "bank.channel.json",
            definition: { ...channel, callbacks: { "loan.result": callback }, ...changes } as never,
          },
        ],
        behaviors: [],
      },
      { cryptoHandlers: { hasHandler: () => true, validateOptions: () => [] } },
    ).problems.map((problem) => [problem.code, problem.pointer, problem.severity]);

  test("callbacks opened with no crypto, or with no signature, are a warning", () => {
    expect(check({ crypto: { handler: "plain" } })).toEqual([
      ["callback-unverified", "/crypto/handler", "warning"],
    ]);
    expect(check({ crypto: { handler: "configurable", options: {} } })).toEqual([
      ["callback-unverified", "/crypto/options", "warning"],
    ]);
    expect(
      check({
        crypto: {
          handler: "configurable",
          options: { request: { signature }, callback: { timestamp: { format: "unixSeconds" } } },
        },
      }),
    ).toEqual([["callback-unverified", "/crypto/options/callback", "warning"]]);
  });

  test("an account that drops the callback's signature is a warning at the account", () => {
    expect(
      check({
        crypto: { handler: "configurable", options: { callback: { signature } } },
        accounts: { main: { crypto: { options: { callback: { signature: null } } } } },
      }),
    ).toEqual([["callback-unverified", "/accounts/main/crypto/options/callback", "warning"]]);
  });

  test("a signed callback, a shared-key AEAD, another handler or no callbacks: nothing", () => {
    expect(
      check({ crypto: { handler: "configurable", options: { callback: { signature } } } }),
    ).toEqual([]);
    expect(
      check({
        crypto: {
          handler: "configurable",
          options: {
            callback: {
              encryption: { cipher: "aes-256-gcm", contentKey: "shared", envelope: { data: "d" } },
            },
          },
        },
      }),
    ).toEqual([]);
    expect(check({ crypto: { handler: "acme-token" } })).toEqual([]);
    expect(check({ crypto: { handler: "plain" }, callbacks: {} })).toEqual([]);
  });
});

describe("callbacks signed over one member or element read what settles money inside it", () => {
  const check = (canonical: Record<string, unknown>, reads: Record<string, unknown>) =>
    validateDefinitions(
      {
        channels: [
          {
            file: "bank.channel.json",
            definition: {
              ...channel,
              crypto: {
                handler: "configurable",
                options: {
                  callback: {
                    signature: {
                      algorithm: "rsa-sha256",
                      canonical,
                      placement: { in: "header", name: "X-Sign" },
                    },
                  },
                },
              },
              callbacks: {
                "loan.result": {
                  format: "xml",
                  correlation: "body.body.loanNo",
                  dedupeKey: "body.body.notifyId",
                  statusTable: { code: "body.body.status", codes: {} },
                  ack: { format: "xml", xml: { root: "message" }, body: { code: "0000" } },
                  ...reads,
                },
              },
            } as never,
          },
        ],
        behaviors: [],
      },
      { cryptoHandlers: { hasHandler: () => true, validateOptions: () => [] } },
    ).problems.map((problem) => [problem.code, problem.pointer, problem.severity]);
  const element = { kind: "xmlElement", element: "body" };

  test("an id, instance or status read outside the signed element is a warning", () => {
    expect(check(element, {})).toEqual([]);
    expect(
      check(element, {
        dedupeKey: "body.head.notifyId",
        correlation: 'headers["x-loan"]',
        statusTable: { code: "body.status", codes: {} },
      }),
    ).toEqual([
      ["callback-reads-unsigned", "/callbacks/loan.result/correlation", "warning"],
      ["callback-reads-unsigned", "/callbacks/loan.result/dedupeKey", "warning"],
      ["callback-reads-unsigned", "/callbacks/loan.result/statusTable/code", "warning"],
    ]);
  });

  test("a JSON member: paths must start with it", () => {
    const member = { kind: "jsonMember", member: "notify" };
    expect(
      check(member, {
        correlation: "body.notify.loanNo",
        dedupeKey: "body.notify.id",
        statusTable: { code: "body.notify.status", codes: {} },
      }),
    ).toEqual([]);
    expect(
      check(member, {
        correlation: "body.notify.loanNo",
        dedupeKey: "body.notifyId",
        statusTable: { code: "body.notify.status", codes: {} },
      }),
    ).toEqual([["callback-reads-unsigned", "/callbacks/loan.result/dedupeKey", "warning"]]);
  });
});
