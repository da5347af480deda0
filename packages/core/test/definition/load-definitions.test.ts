import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { loadDefinitions, loadDefinitionsOrThrow } from "../../src/definition/load-definitions.ts";
import { isCapflowError } from "../../src/errors.ts";
import { fixtureDir, stubCryptoHandlers, stubProcessors, where } from "./fixtures.ts";

const registries = { processors: stubProcessors, cryptoHandlers: stubCryptoHandlers };

describe("loadDefinitions", () => {
  test("loads a valid set (JSONC with comments) with no problems", async () => {
    const result = await loadDefinitions(fixtureDir("valid"), registries);
    expect(result.problems).toEqual([]);
    expect(result.channels.map((channel) => channel.code)).toEqual(["bank"]);
    expect(result.behaviors.map((behavior) => `${behavior.channel}/${behavior.code}`)).toEqual([
      "bank/loan",
    ]);
  });

  test("reports syntax errors, duplicate keys and duplicate step codes with positions", async () => {
    const { problems, behaviors } = await loadDefinitions(fixtureDir("syntax"), registries);
    expect(problems).toEqual([
      {
        code: "duplicate-key",
        file: "bank.loan.behavior.json",
        pointer: "/steps/apply/interface",
        line: 10,
        column: 7,
        message:
          'key "interface" is already set on line 9; remove one of them (the last one would win silently)',
      },
      {
        code: "duplicate-code",
        file: "bank.loan.behavior.json",
        pointer: "/steps/done",
        line: 17,
        column: 5,
        message: 'step code "done" is already used on line 15; rename one of the two steps',
      },
      {
        code: "syntax",
        file: "bank.repay.behavior.json",
        pointer: "",
        line: 4,
        column: 3,
        message: "expected `,` between entries; fix the JSON syntax here",
      },
    ]);
    // The file with a syntax error is not used; the one with duplicate keys parses.
    expect(behaviors.map((behavior) => behavior.code)).toEqual(["loan"]);
  });

  test("reports duplicate channel codes and duplicate (channel, behavior) pairs across files", async () => {
    const { problems, channels, behaviors } = await loadDefinitions(fixtureDir("duplicates"));
    expect(where(problems)).toEqual([
      ["bank.channel.json", "duplicate-channel", "/code"],
      ["bank.loan.behavior.json", "duplicate-behavior", "/code"],
    ]);
    expect(problems[0]?.message).toBe(
      'channel "bank" is already defined in bank-copy.channel.json; give each channel its own code',
    );
    expect(problems[1]?.message).toBe(
      'behavior "loan" of channel "bank" is already defined in bank.loan-v2.behavior.json; give each behavior of a channel its own code',
    );
    expect(channels.map((channel) => channel.name)).toEqual(["Test Bank (copy)"]);
    expect(behaviors).toHaveLength(1);
  });

  test("translates schema violations into one plain problem each", async () => {
    const { problems, behaviors } = await loadDefinitions(fixtureDir("schema"));
    expect(where(problems)).toEqual([
      ["bank.loan.behavior.json", "schema", "/descripton"],
      ["bank.loan.behavior.json", "schema", "/steps/apply/request/format"],
      ["bank.loan.behavior.json", "callback-without-deadline", "/steps/wait"],
      ["bank.loan.behavior.json", "schema", "/steps/pause"],
      ["bank.loan.behavior.json", "schema", "/steps/pause/duration"],
      ["bank.loan.behavior.json", "schema", "/steps/pause/nxt"],
      ["bank.loan.behavior.json", "terminal-has-routes", "/steps/done/next"],
      ["bank.loan.behavior.json", "schema", "/steps/bad step"],
      ["bank.loan.behavior.json", "schema", "/steps/bad step/kind"],
      ["other.channel.json", "schema", "/baseUrl"],
      ["other.channel.json", "schema", "/interfaces/ping/timeout"],
      ["other.channel.json", "schema", "/interfaces/ping/rate"],
    ]);
    const messages = problems.map((problem) => problem.message);
    expect(messages).toEqual([
      'unknown property "descripton" in the definition; remove it or fix the spelling (did you mean "description"?)',
      '"format" is "yaml"; use one of "json", "xml", "form", "text"',
      'callback step "wait" has no deadline: a lost callback would stall the instance forever; add "deadline" (e.g. "30m") and "onDeadline" (normally a query step)',
      'step "pause" is missing the required property "next"',
      '"15 seconds" is not a duration; write a whole number and a unit (ms, s, m, h, d), e.g. "15s" or "3m"',
      'unknown property "nxt" in a delay step; remove it or fix the spelling (did you mean "next"?)',
      'terminal step "done" cannot have "next": a terminal step ends the instance; remove "next" or change the step\'s kind',
      '"bad step" is not a valid code; start with a letter and use only letters, digits, "_", "." or "-"',
      '"kind" is "wait"; use one of "call", "poll", "callback", "delay", "decide", "terminal"',
      '"baseUrl" must start with http:// or https:// (found "ftp://other.example.test")',
      '"timeout" must be a string (found an integer)',
      '"rate" is missing the required property "per"',
    ]);
    expect(problems[0]).toMatchObject({ line: 6, column: 3 });
    // Definitions with schema problems are not returned.
    expect(behaviors).toEqual([]);
  });

  test("checks the step graph: unknown targets, spin cycles, endless loops, dead ends, unreachable steps", async () => {
    const { problems } = await loadDefinitions(fixtureDir("graph"));
    expect(where(problems)).toEqual([
      ["bank.endless.behavior.json", "endless-loop", "/steps/query"],
      ["bank.loan.behavior.json", "unknown-step", "/steps/check/otherwise"],
      ["bank.loan.behavior.json", "spin-cycle", "/steps/apply"],
      ["bank.loan.behavior.json", "dead-end", "/steps/query"],
      ["bank.loan.behavior.json", "spin-cycle", "/steps/query"],
      ["bank.loan.behavior.json", "unreachable-step", "/steps/orphan"],
      ["bank.loan.behavior.json", "unreachable-step", "/steps/done"],
      ["bank.lost.behavior.json", "unknown-step", "/initial"],
    ]);
    expect(problems.map((problem) => problem.message)).toEqual([
      'steps "query", "pause" loop with no way to a terminal step: an instance would never finish; route one of them to a terminal step (e.g. manual review)',
      'step "rejectd" does not exist; define it under "steps" or fix the code',
      'steps "apply", "recheck" form a loop without a delay, poll or callback step: an instance would spin; put a waiting step in the loop',
      'call step "query" has nowhere to go when the partner answers; add "routes" or "otherwise"',
      'step "query" leads back to itself without waiting: an instance would spin; go through a delay, poll or callback step instead',
      'step "orphan" cannot be reached from the initial step "check"; route to it from another step or remove it',
      'step "done" cannot be reached from the initial step "check"; route to it from another step or remove it',
      'initial step "strat" does not exist (did you mean "start"?); set "initial" to one of the codes under "steps"',
    ]);
  });

  test("checks references to channels, interfaces and callbacks", async () => {
    const { problems } = await loadDefinitions(fixtureDir("references"));
    expect(where(problems)).toEqual([
      ["bank.loan.behavior.json", "unknown-interface", "/steps/apply/interface"],
      ["bank.loan.behavior.json", "unknown-callback", "/steps/wait/callback"],
      ["bank.loan.behavior.json", "unknown-interface", "/steps/wait/poll/interface"],
      ["bnak.repay.behavior.json", "unknown-channel", "/channel"],
    ]);
    expect(problems.map((problem) => problem.message)).toEqual([
      'channel "bank" has no interface "loan.aply" (did you mean "loan.apply"?); declare it under "interfaces" of the channel or fix the name',
      'channel "bank" has no callback "loan.notify"; declare it under "callbacks" of the channel or fix the name',
      'channel "bank" has no interface "loan.status"; declare it under "interfaces" of the channel or fix the name',
      'channel "bnak" is not defined (did you mean "bank"?); add a bnak.channel.json or fix the code',
    ]);
  });

  test("catches blind resends of non-idempotent calls", async () => {
    const { problems } = await loadDefinitions(fixtureDir("resend"));
    expect(where(problems)).toEqual([
      ["bank.loan.behavior.json", "spin-cycle", "/steps/apply"],
      ["bank.loan.behavior.json", "unsafe-resend", "/steps/apply/onUnknownOutcome"],
      ["bank.loan.behavior.json", "unsafe-resend", "/steps/query/onExhausted"],
      ["bank.loan.behavior.json", "unknown-outcome-unhandled", "/steps/reapply"],
    ]);
    expect(problems.slice(1).map((problem) => problem.message)).toEqual([
      '"onUnknownOutcome" of "apply" goes to the non-idempotent call "apply": the request may have been processed, so this could send it twice; go to a query step instead',
      '"onExhausted" of "query" goes to the non-idempotent call "reapply": the outcome is still unknown, so this could send it twice; go to manual review instead',
      'call step "reapply" is not idempotent and has no "onUnknownOutcome": after a timeout the engine could neither resend nor ask; add "onUnknownOutcome" (normally a query step) or mark the call idempotent if the partner deduplicates it',
    ]);
  });

  test("checks CEL expressions, templates, processors and crypto handlers", async () => {
    const { problems } = await loadDefinitions(fixtureDir("code"), registries);
    expect(where(problems)).toEqual([
      ["bank.channel.json", "unknown-crypto-handler", "/crypto/handler"],
      ["bank.channel.json", "invalid-template", "/interfaces/loan.query/path"],
      ["bank.channel.json", "invalid-expression", "/interfaces/loan.query/statusTable/code"],
      ["bank.channel.json", "invalid-expression", "/callbacks/loan.result/dedupeKey"],
      ["bank.channel.json", "unknown-processor", "/callbacks/loan.result/ack/body/sign"],
      ["bank.loan.behavior.json", "unknown-processor", "/steps/apply/request/body/amount"],
      ["bank.loan.behavior.json", "unknown-processor", "/steps/apply/request/body/sign"],
      ["bank.loan.behavior.json", "unknown-data", "/steps/apply/request/body/name"],
      ["bank.loan.behavior.json", "invalid-template", "/steps/apply/request/headers/X-Broken"],
      ["bank.loan.behavior.json", "invalid-expression", "/steps/apply/response/extract/loanNo"],
      ["bank.loan.behavior.json", "invalid-expression", "/steps/apply/routes/0/when"],
    ]);
    const byPointer = new Map(problems.map((problem) => [problem.pointer, problem.message]));
    expect(byPointer.get("/crypto/handler")).toBe(
      'crypto handler "rsa-magic" is not registered; register it or use a registered handler such as "configurable"',
    );
    expect(byPointer.get("/steps/apply/routes/0/when")).toBe(
      'CEL expression "outcome = \\"succeeded\\"" does not parse: Unexpected character: =; fix the expression',
    );
    expect(byPointer.get("/steps/apply/request/headers/X-Broken")).toBe(
      'template "{{now" does not parse at template line 1, column 3: unexpected character inside `{{ }}`; fix the Handlebars syntax',
    );
    expect(byPointer.get("/steps/apply/request/body/amount")).toBe(
      'processor "toCent" is not registered; register it with the processor registry or fix the name',
    );
    expect(byPointer.get("/steps/apply/request/body/name")).toBe(
      '"inptu" is neither template data (input, context, channel, behavior, step, attempt, account, constants) nor a registered processor (did you mean "input"?); it would render empty: fix the name',
    );
  });

  test("skips processor and crypto handler checks when no registry is given", async () => {
    const { problems } = await loadDefinitions(fixtureDir("code"));
    const codes = new Set(problems.map((problem) => problem.code));
    expect([...codes].sort()).toEqual(["invalid-expression", "invalid-template"]);
  });

  test("reports crypto option problems under /crypto/options", async () => {
    const { problems } = await loadDefinitions(fixtureDir("valid"), {
      cryptoHandlers: {
        hasHandler: () => true,
        validateOptions: (name, options) => [
          {
            pointer: "/signature",
            message: `${name}: signature is required (${Object.keys(options).length} keys given)`,
          },
        ],
      },
    });
    expect(problems).toEqual([
      {
        code: "crypto-options",
        file: "bank.channel.json",
        pointer: "/crypto/options/signature",
        line: 10,
        column: 5,
        message: "configurable: signature is required (2 keys given)",
      },
    ]);
  });

  test("ignores other files and finds definitions in sub-folders", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-definitions-"));
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(dir, "bank"));
    await writeFile(join(dir, "README.md"), "# not a definition\n");
    await writeFile(join(dir, "notes.json"), "{ broken");
    await writeFile(
      join(dir, "bank", "bank.loan.behavior.json"),
      JSON.stringify({
        channel: "bank",
        code: "loan",
        initial: "x",
        steps: { x: { kind: "terminal", outcome: "failed" } },
      }),
    );
    const { problems } = await loadDefinitions(dir);
    expect(where(problems)).toEqual([
      ["bank/bank.loan.behavior.json", "unknown-channel", "/channel"],
    ]);
  });

  test("loadDefinitionsOrThrow throws DEFINITION_INVALID listing every problem", async () => {
    const error = await loadDefinitionsOrThrow(fixtureDir("references")).catch(
      (caught: unknown) => caught,
    );
    expect(isCapflowError(error, "DEFINITION_INVALID")).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain("4 problems in the definitions under");
    expect(message).toContain("bnak.repay.behavior.json:2:3");
    await expect(loadDefinitionsOrThrow(fixtureDir("valid"))).resolves.toMatchObject({
      problems: [],
    });
  });

  test("a missing folder is DEFINITION_NOT_FOUND", async () => {
    const error = await loadDefinitions(fixtureDir("does-not-exist")).catch(
      (caught: unknown) => caught,
    );
    expect(isCapflowError(error, "DEFINITION_NOT_FOUND")).toBe(true);
  });
});
