import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The docs' TypeScript samples are files in examples/docs-samples, type-checked with the rest of
 * the repository. A sample appears in a document as a fenced block right after a marker:
 *
 *     <!-- sample: quick-start.ts -->
 *     ```ts
 *     …the file, verbatim…
 *     ```
 *
 * This test keeps every marked block identical to its file, and every sample file used.
 */
const root = fileURLToPath(new URL("../../../", import.meta.url));
const samplesDir = fileURLToPath(new URL("../", import.meta.url));

interface MarkedSample {
  document: string;
  file: string;
  code: string | undefined;
}

async function markedSamples(): Promise<MarkedSample[]> {
  const docsDir = join(root, "docs");
  const documents = [
    "README.md",
    ...(await readdir(docsDir))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
  ];
  const samples: MarkedSample[] = [];
  for (const document of documents) {
    const text = await readFile(join(root, document), "utf8");
    const marker = /<!-- sample: ([\w./-]+) -->\n(```ts\n([\s\S]*?)```)?/g;
    for (const match of text.matchAll(marker)) {
      samples.push({ document, file: match[1] ?? "", code: match[3] });
    }
  }
  return samples;
}

describe("docs samples", () => {
  it("every marked block is its sample file, verbatim", async () => {
    const samples = await markedSamples();
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) {
      expect(
        sample.code,
        `${sample.document}: a \`\`\`ts block must follow the marker of ${sample.file}`,
      ).toBeDefined();
      const file = await readFile(join(samplesDir, sample.file), "utf8");
      expect(sample.code, `${sample.document} shows ${sample.file}`).toBe(file);
    }
  });

  it("every sample file appears in a document", async () => {
    const used = new Set((await markedSamples()).map((sample) => sample.file));
    const files = (await readdir(samplesDir)).filter((name) => name.endsWith(".ts"));
    for (const file of files) expect(used, `${file} is shown nowhere`).toContain(file);
  });
});
