import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const input = "packages/cli/test/preview/lanbank-loan-input.json";
const now = "2026-11-21T14:00:00Z";

describe("capflow preview --sealed", () => {
  test("shows the wire form and the string signed, which the partner's rule reproduces", async () => {
    const run = await runCapflow(
      "preview",
      "examples/meadow/definitions",
      "-s",
      "meadow/credit/apply",
      "-i",
      input,
      "--now",
      now,
      "--sealed",
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const [head, body, size, signed] = run.stdout.split("\n\n");
    expect(head!.split("\n")[0]).toBe(
      "POST https://gateway.meadowcf.example/gateway.do?service=credit.apply",
    );
    expect(head).toContain("content-type: application/x-www-form-urlencoded; charset=UTF-8");
    expect(size).toBe(`${Buffer.byteLength(body!)} bytes in utf-8`);
    const wire = new URLSearchParams(body!);
    expect(wire.get("real_name")).toBe("张三");
    const canonical = signed!.replace(/^signed over:\n/, "").trimEnd();
    expect(canonical).toContain("real_name=张三");
    // The partner's rule: MD5 over the canonical string with `&key=<shared key>` appended.
    const key = (await readFile("examples/meadow/keys/md5-shared.key", "utf8")).trim();
    const expected = createHash("md5")
      .update(`${canonical}&key=${key}`)
      .digest("hex")
      .toUpperCase();
    expect(wire.get("sign")).toBe(expected);
    expect(run.stdout).not.toContain(key);
  });

  test("--json gives the same parts as data, the bytes in base64", async () => {
    const run = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/apply",
      "-i",
      input,
      "--now",
      now,
      "--sealed",
      "--json",
    );
    expect(run.exitCode).toBe(0);
    const sealed = JSON.parse(run.stdout) as {
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
      bytes: string;
      charset: string;
      signed: string[];
    };
    expect(sealed.method).toBe("POST");
    expect(Buffer.from(sealed.bytes, "base64").toString("utf8")).toBe(sealed.body);
    // The envelope hides the personal data; the signature covers the envelope's fields.
    expect(sealed.body).not.toContain("110101199003071234");
    const envelope = JSON.parse(sealed.body) as Record<string, string>;
    expect(sealed.signed).toHaveLength(1);
    expect(sealed.signed[0]).toContain(`data=${envelope.data}`);
  });

  test("refuses --mask with --sealed, and names a key that does not resolve", async () => {
    const both = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/apply",
      "-i",
      input,
      "--sealed",
      "--mask",
    );
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain("--mask and --sealed do not go together");
    const noKeys = await runCapflow(
      "preview",
      "examples/lanbank/definitions",
      "-s",
      "lanbank/loan/apply",
      "-i",
      input,
      "--sealed",
      "--keys-dir",
      "packages/cli/test/preview",
    );
    expect(noKeys.exitCode).toBe(1);
    expect(noKeys.stderr).toMatch(/file:/);
  });
});
