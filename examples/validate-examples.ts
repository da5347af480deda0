import { readdir } from "node:fs/promises";
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
