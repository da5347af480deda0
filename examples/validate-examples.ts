import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type DefinitionSet,
  loadDefinitions,
  type ValidateDefinitionsOptions,
} from "@capflow/core";

/** The examples folder: every sub-folder with a `definitions/` folder is an example. */
export const examplesDir = fileURLToPath(new URL(".", import.meta.url));

export interface ExampleValidation {
  /** Folder name, e.g. `lanbank`. */
  example: string;
  /** The example's definitions folder. */
  definitionsDir: string;
  result: DefinitionSet;
}

/** Loads and validates the definitions of every example, in folder-name order. */
export async function validateExamples(
  options: ValidateDefinitionsOptions = {},
): Promise<ExampleValidation[]> {
  const entries = await readdir(examplesDir, { withFileTypes: true });
  const examples = entries
    .filter((entry) => entry.isDirectory() && entry.name !== "node_modules")
    .map((entry) => entry.name)
    .sort();
  const validations: ExampleValidation[] = [];
  for (const example of examples) {
    const definitionsDir = join(examplesDir, example, "definitions");
    const hasDefinitions = (await readdir(join(examplesDir, example))).includes("definitions");
    if (!hasDefinitions) continue;
    validations.push({
      example,
      definitionsDir,
      result: await loadDefinitions(definitionsDir, options),
    });
  }
  return validations;
}

/** The products of the examples (`examples/products`): one business served by several funders. */
export const productsDir = join(examplesDir, "products");

/**
 * Loads and validates the example products together with every example's channels and behaviors
 * they name (a product is checked against the funders it routes to). Only the products' own
 * problems are kept: each example's are reported by {@link validateExamples}.
 */
export async function validateExampleProducts(
  options: ValidateDefinitionsOptions = {},
): Promise<DefinitionSet> {
  const scratch = await mkdtemp(join(tmpdir(), "capflow-products-"));
  try {
    await cp(productsDir, join(scratch, "products"), { recursive: true });
    for (const { example, definitionsDir } of await validateExamples(options)) {
      await cp(definitionsDir, join(scratch, example), { recursive: true });
    }
    const result = await loadDefinitions(scratch, options);
    return {
      ...result,
      problems: result.problems.filter((problem) => problem.file.startsWith("products/")),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
