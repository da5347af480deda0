import { fileURLToPath } from "node:url";
import type { Problem } from "../../src/definition/problem.ts";
import type { KnownCryptoHandlers, KnownProcessors } from "../../src/definition/registries.ts";

/** Folder of a fixture definition set under test/fixtures/definitions. */
export function fixtureDir(name: string): string {
  return fileURLToPath(new URL(`../fixtures/definitions/${name}`, import.meta.url));
}

/** The processors the message pipeline ships with. */
export const builtInProcessorNames = [
  "toCents",
  "toYuan",
  "formatDate",
  "now",
  "serialNo",
  "uuid",
  "nonce",
  "mask",
  "md5",
  "sha256",
  "sm3",
  "lookup",
  "padStart",
  "padEnd",
  "substring",
  "json",
];

export const stubProcessors: KnownProcessors = {
  hasProcessor: (name) => builtInProcessorNames.includes(name),
};

export const stubCryptoHandlers: KnownCryptoHandlers = {
  hasHandler: (name) => name === "configurable",
  validateOptions: () => [],
};

/** `[file, code, pointer]` triples: what every exact expectation compares. */
export function where(problems: readonly Problem[]): [string, string, string][] {
  return problems.map((problem) => [problem.file, problem.code, problem.pointer]);
}
