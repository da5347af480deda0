import { createPublicKey } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestCertificateAuthority } from "@capflow/testkit";
import { describe, expect, test } from "vitest";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

const fixtures = "packages/core/test/fixtures/definitions";

describe("capflow validate", () => {
  test.each([
    ["lanbank", "1 channel, 4 behaviors, 1 statement, no problems\n"],
    ["meadow", "1 channel, 3 behaviors, 1 statement, no problems\n"],
    ["jade-trust", "1 channel, 2 behaviors, 1 statement, no problems\n"],
  ])("example %s is valid", async (example, summary) => {
    const run = await runCapflow("validate", `examples/${example}/definitions`);
    expect(run).toEqual({ exitCode: 0, stdout: summary, stderr: "" });
  });

  test("prints the report with paths as typed and exits 1 on problems", async () => {
    const run = await runCapflow("validate", `${fixtures}/references`);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe("");
    expect(run.stdout.split("\n")).toEqual([
      `${fixtures}/references/bank.loan.behavior.json:8:7  channel "bank" has no interface "loan.aply" (did you mean "loan.apply"?); declare it under "interfaces" of the channel or fix the name  (/steps/apply/interface)  [unknown-interface]`,
      `${fixtures}/references/bank.loan.behavior.json:14:7  channel "bank" has no callback "loan.notify"; declare it under "callbacks" of the channel or fix the name  (/steps/wait/callback)  [unknown-callback]`,
      `${fixtures}/references/bank.loan.behavior.json:17:17  channel "bank" has no interface "loan.status"; declare it under "interfaces" of the channel or fix the name  (/steps/wait/poll/interface)  [unknown-interface]`,
      "",
      `${fixtures}/references/bnak.repay.behavior.json:2:3  channel "bnak" is not defined (did you mean "bank"?); add a bnak.channel.json or fix the code  (/channel)  [unknown-channel]`,
      "",
      "4 problems in 2 files",
      "",
    ]);
  });

  test("warns about a cached query's call that would park, and exits 0", async () => {
    const run = await runCapflow("validate", `${fixtures}/query`);
    expect(run).toMatchObject({ exitCode: 0, stderr: "" });
    expect(run.stdout.split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${fixtures}/query/bank\\.repay-trial\\.behavior\\.json:9:5  warning: call step "ask" of the cached query "bank/repay-trial" has no "onRetryExhausted": .*  \\(/steps/ask\\)  \\[query-call-may-park\\]$`,
        ),
      ),
      "",
      "1 warning in 1 file",
      "1 channel, 1 behavior, no errors",
      "",
    ]);
  });

  test("--check-secrets: a mistyped algorithm is reported once where it is, with the closest allowed value, and no keys are loaded for it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-validate-typo-"));
    try {
      await cp(join(repositoryRoot, "examples/meadow"), dir, {
        recursive: true,
        filter: (source) => !source.includes("node_modules"),
      });
      const file = join(dir, "definitions/meadow.channel.json");
      const channel = JSON.parse(await readFile(file, "utf8")) as {
        crypto: { options: { request: { signature: { algorithm: string } } } };
      };
      channel.crypto.options.request.signature.algorithm = "hmac-sha265";
      await writeFile(file, JSON.stringify(channel, null, 2));
      const run = await runCapflow(
        "validate",
        "--check-secrets",
        "--json",
        join(dir, "definitions"),
      );
      expect(run.exitCode).toBe(1);
      const problems = JSON.parse(run.stdout) as {
        code: string;
        pointer: string;
        message: string;
      }[];
      expect(problems.map((problem) => [problem.code, problem.pointer])).toEqual([
        ["crypto-options", "/crypto/options/request/signature/algorithm"],
      ]);
      expect(problems[0]!.message).toMatch(
        /^must be one of md5, .*\(did you mean "hmac-sha256"\?\)$/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a cut-off whose working day is ambiguous is refused (ambiguous-cutoff) with what to declare; declaring the funder's hours passes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-validate-cutoff-"));
    try {
      await cp(join(repositoryRoot, "examples/lanbank/definitions"), dir, { recursive: true });
      const file = join(dir, "lanbank.channel.json");
      const channel = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      const validateWith = async (calendar: Record<string, unknown>) => {
        await writeFile(file, JSON.stringify({ ...channel, calendar }, null, 2));
        return runCapflow("validate", "--json", dir);
      };
      const run = await validateWith({ workingDaysOnly: true, holidays: "cn", cutoff: "00:30" });
      expect(run.exitCode).toBe(1);
      const problems = JSON.parse(run.stdout) as {
        code: string;
        pointer: string;
        message: string;
      }[];
      expect(problems).toEqual([
        expect.objectContaining({ code: "ambiguous-cutoff", pointer: "/calendar/cutoff" }),
      ]);
      expect(problems[0]!.message).toMatch(
        /^channel lanbank: the cut-off 00:30 falls after the day's first opening .*it is taken to end its own date's day.*To make it explicit, declare the funder's hours in serviceWindows .*"serviceWindows": \["00:30-00:30"\] \(open all day\)/,
      );
      // What the message says to write passes, and so do the funder's real hours.
      for (const serviceWindows of [["00:30-00:30"], ["01:00-00:30"]]) {
        const fixed = await validateWith({
          serviceWindows,
          workingDaysOnly: true,
          holidays: "cn",
          cutoff: "00:30",
        });
        expect(fixed).toMatchObject({ exitCode: 0, stdout: "[]\n" });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("--check-secrets warns about certificates expiring within --expiry-warning", async () => {
    const dir = "examples/cedar-bank/definitions";
    const quiet = await runCapflow("validate", "--check-secrets", "--json", dir);
    expect(quiet).toMatchObject({ exitCode: 0, stdout: "[]\n" });
    // The example's certificates are valid for decades: a century-long window reaches them.
    const run = await runCapflow(
      "validate",
      "--check-secrets",
      "--expiry-warning",
      "36500d",
      "--json",
      dir,
    );
    expect(run.exitCode).toBe(0);
    const problems = JSON.parse(run.stdout) as { code: string; pointer: string }[];
    expect(problems.map((problem) => [problem.code, problem.pointer])).toEqual([
      ["certificate-expiring", "/crypto/options/keys/signing/certificate"],
      ["certificate-expiring", "/crypto/options/keys/verifying/0/ref"],
    ]);
    const bad = await runCapflow("validate", "--check-secrets", "--expiry-warning", "soon", dir);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('--expiry-warning "soon" is not a duration');
  });

  test("--check-secrets warns about an upstream client's key given as a certificate, not a bare key or a secret", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-cli-client-certificates-"));
    try {
      const authority = new TestCertificateAuthority("Test CA");
      await writeFile(
        join(dir, "platform.pem"),
        authority.issueClient("Platform 2026", { validForDays: 10 }).cert,
      );
      const bare = authority.issueClient("Billing 2026", { validForDays: 5 });
      await writeFile(
        join(dir, "billing.pem"),
        createPublicKey(bare.key).export({ type: "spki", format: "pem" }) as string,
      );
      await writeFile(join(dir, "ledger.secret"), "a shared secret of thirty-two bytes");
      const client = (id: string, algorithm: string, ref: string) =>
        writeFile(
          join(dir, `${id}.client.json`),
          JSON.stringify({
            id,
            signature: { algorithm, key: { ref } },
            allowedIps: ["10.0.0.0/8"],
            allow: { behaviors: ["noop/*"] },
          }),
        );
      await writeFile(
        join(dir, "noop.channel.json"),
        JSON.stringify({
          code: "noop",
          name: "No-op",
          baseUrl: "https://funder.example",
          timeZone: "Asia/Shanghai",
          crypto: { handler: "plain" },
          interfaces: { ping: { method: "GET", path: "/ping", idempotent: true } },
        }),
      );
      await client("platform", "rsa-sha256", "file:platform.pem");
      await client("billing", "rsa-sha256", "file:billing.pem");
      await client("ledger", "hmac-sha256", "file:ledger.secret");

      const run = await runCapflow("validate", "--check-secrets", "--json", dir);
      expect(run).toMatchObject({ exitCode: 0, stderr: "" });
      expect(JSON.parse(run.stdout)).toEqual([
        expect.objectContaining({
          code: "certificate-expiring",
          severity: "warning",
          file: `${dir}/platform.client.json`,
          pointer: "/signature/key/ref",
          message: expect.stringMatching(
            /^the certificate CN=Platform 2026 of upstream client platform in file:platform\.pem expires on \S+, in 10 days; get the client's renewed certificate and push it in its client definition \(signature\.key\)/,
          ),
        }),
      ]);
      // Outside the window, nothing.
      const quiet = await runCapflow("validate", "--check-secrets", "--expiry-warning", "5d", dir);
      expect(quiet).toEqual({
        exitCode: 0,
        stdout: "1 channel, 0 behaviors, 3 clients, no problems\n",
        stderr: "",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("--json prints the problems as JSON", async () => {
    const run = await runCapflow("validate", "--json", `${fixtures}/graph`);
    expect(run.exitCode).toBe(1);
    const problems = JSON.parse(run.stdout) as { code: string; file: string }[];
    expect(problems.map((problem) => problem.code)).toEqual([
      "endless-loop",
      "unknown-step",
      "spin-cycle",
      "dead-end",
      "spin-cycle",
      "unreachable-step",
      "unreachable-step",
      "unknown-step",
    ]);
    expect(problems[1]?.file).toBe(`${fixtures}/graph/bank.loan.behavior.json`);
  });

  test("checks processors and crypto handlers against the built-in registries", async () => {
    const run = await runCapflow("validate", "--json", `${fixtures}/code`);
    expect(run.exitCode).toBe(1);
    const problems = JSON.parse(run.stdout) as { code: string; message: string }[];
    expect(problems.filter((problem) => problem.code.startsWith("unknown-"))).toEqual([
      expect.objectContaining({ code: "unknown-crypto-handler" }),
      expect.objectContaining({
        code: "unknown-processor",
        message: expect.stringContaining('"hmac"'),
      }),
      expect.objectContaining({
        code: "unknown-processor",
        message: expect.stringContaining('"toCent"'),
      }),
      expect.objectContaining({
        code: "unknown-processor",
        message: expect.stringContaining('"concat"'),
      }),
      expect.objectContaining({
        code: "unknown-data",
        message: expect.stringContaining('"inptu"'),
      }),
    ]);
  });

  test("--processors adds processor modules; --no-registries skips those checks", async () => {
    const withModule = await runCapflow(
      "validate",
      "--json",
      "--processors",
      "packages/cli/test/validate/extra-processors.ts",
      "--",
      `${fixtures}/code`,
    );
    const unknown = (JSON.parse(withModule.stdout) as { code: string; message: string }[])
      .filter((problem) => problem.code === "unknown-processor")
      .map((problem) => problem.message);
    expect(unknown).toHaveLength(2);
    expect(unknown.some((message) => message.includes('"concat"'))).toBe(false);

    const skipped = await runCapflow("validate", "--json", "--no-registries", `${fixtures}/code`);
    const codes = (JSON.parse(skipped.stdout) as { code: string }[]).map((problem) => problem.code);
    expect(new Set(codes)).toEqual(new Set(["invalid-expression", "invalid-template"]));
  });

  test("--crypto-handlers adds handler modules, whose option checks then run", async () => {
    const dir = "packages/cli/test/validate/custom-crypto";
    const module = "packages/cli/test/validate/acme-crypto.ts";
    const without = await runCapflow("validate", "--json", dir);
    expect(without.exitCode).toBe(1);
    expect(JSON.parse(without.stdout)).toEqual([
      expect.objectContaining({ code: "unknown-crypto-handler", pointer: "/crypto/handler" }),
    ]);

    const withModule = await runCapflow("validate", "--crypto-handlers", module, "--", dir);
    expect(withModule).toMatchObject({
      exitCode: 0,
      stdout: "1 channel, 0 behaviors, no problems\n",
    });

    const bad = await runCapflow(
      "validate",
      "--json",
      "--crypto-handlers",
      module,
      "--",
      `${dir}-bad`,
    );
    expect(JSON.parse(bad.stdout)).toEqual([
      expect.objectContaining({
        code: "crypto-options",
        pointer: "/crypto/options/keyRef",
        message: "keyRef must be an env: reference to Acme's key",
      }),
    ]);

    const broken = await runCapflow(
      "validate",
      "--crypto-handlers",
      "packages/cli/test/validate/extra-processors.ts",
      "--",
      dir,
    );
    expect(broken.exitCode).toBe(1);
    expect(broken.stderr).toContain("must export registerCryptoHandlers(registry)");
  });

  test("a missing argument is a usage error", async () => {
    const run = await runCapflow("validate");
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("error: missing required argument 'dir'");
  });

  test("a folder that does not exist is reported, not a crash", async () => {
    const run = await runCapflow("validate", "no/such/folder");
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(
      /^error: \[DEFINITION_NOT_FOUND\] cannot read the definitions folder .*no\/such\/folder; check the path\n$/,
    );
  });
});
