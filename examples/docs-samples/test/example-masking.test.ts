import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Every example masks every personal field it carries: in the messages it sends and receives
 * (keys of its templates and expressions) and in the input its templates read
 * (`input.customer.idNo`). Names are matched at any depth, as masking matches them.
 */
const examplesDir = fileURLToPath(new URL("../../", import.meta.url));

/** Field names the examples use for personal data (ID numbers, phones, cards, names, e-mail). */
const personal =
  /^(idNo|id_no|certNo|mobile|mobile_no|phone|bankCardNo|card_no|accountNo|payCard|receiveCard|custName|real_name|borrowerName|accountName|name|email)$/;

async function definitionFiles(example: string): Promise<string[]> {
  const dir = join(examplesDir, example, "definitions");
  try {
    return (await readdir(dir)).filter((f) => f.endsWith(".json")).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

function keysOf(value: unknown, found: Set<string>): void {
  if (Array.isArray(value)) for (const item of value) keysOf(item, found);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      found.add(key);
      keysOf(item, found);
    }
  } else if (typeof value === "string") {
    for (const match of value.matchAll(/\b(?:input|body|fields)((?:\.[A-Za-z_][\w]*)+)/g)) {
      for (const part of (match[1] ?? "").split(".").filter(Boolean)) found.add(part);
    }
  }
}

describe("the examples' masking lists", () => {
  it("cover every personal field an example carries", async () => {
    const examples = (await readdir(examplesDir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    let checked = 0;
    for (const example of examples) {
      const files = await definitionFiles(example);
      if (files.length === 0) continue;
      checked++;
      const masked = new Set<string>();
      const carried = new Set<string>();
      for (const file of files) {
        const definition = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
        const masking = definition.masking as { fields?: Record<string, string> } | undefined;
        for (const field of Object.keys(masking?.fields ?? {})) masked.add(field);
        const { masking: _, name: __, crypto: ___, ...messages } = definition;
        keysOf(messages, carried);
      }
      const unmasked = [...carried].filter((key) => personal.test(key) && !masked.has(key));
      expect(unmasked, `${example} carries personal fields its masking lists leave out`).toEqual(
        [],
      );
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });
});
