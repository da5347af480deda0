import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createProgram, runCli } from "@capflow/cli";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";

/**
 * The `capflow` command lines the docs show in ```sh blocks: each names a real command and only
 * options it has, with as many arguments as it takes. Read-only ones (validate, graph) are run,
 * and a `# …` line right under one is its documented output, which it must print.
 */
const root = fileURLToPath(new URL("../../../", import.meta.url));
const readOnly = new Set(["validate", "graph"]);

interface DocumentedCommand {
  where: string;
  args: string[];
  /** The comment line under it, if any. */
  output: string | undefined;
}

/** Every document: README.md, docs/*.md, and the README of each package and example folder. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(join(root, "docs"))).filter((name) => name.endsWith(".md"));
  const readmes = [];
  for (const parent of ["packages", "examples"]) {
    for (const entry of await readdir(join(root, parent), { withFileTypes: true })) {
      const readme = `${parent}/${entry.name}/README.md`;
      if (entry.isDirectory() && existsSync(join(root, readme))) readmes.push(readme);
    }
  }
  return ["README.md", ...docs.map((name) => `docs/${name}`), ...readmes];
}

async function documentedCommands(): Promise<DocumentedCommand[]> {
  const found: DocumentedCommand[] = [];
  for (const document of await documents()) {
    const text = await readFile(join(root, document), "utf8");
    for (const block of text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
      const lines = (block[1] ?? "").split("\n");
      lines.forEach((line, index) => {
        // `pnpm capflow …` in this repository, `capflow …` where the CLI is installed.
        const command = /^(?:[A-Z_]+=\S+ )*(?:pnpm |npx )?capflow (.*)$/.exec(line.trim());
        if (command === null) return;
        const next = lines[index + 1]?.trim();
        found.push({
          where: `${document}: ${line.trim()}`,
          args: shellWords(command[1] ?? ""),
          output: next?.startsWith("# ") ? next.slice(2) : undefined,
        });
      });
    }
  }
  return found;
}

/** Inline mentions in prose, `capflow push <dir>` or `pnpm capflow inbox list`: often partial. */
async function mentionedCommands(): Promise<{ where: string; args: string[] }[]> {
  const found: { where: string; args: string[] }[] = [];
  for (const document of await documents()) {
    const text = await readFile(join(root, document), "utf8");
    const prose = text.replace(/```[\s\S]*?```/g, "");
    for (const match of prose.matchAll(/`(?:pnpm )?capflow ([^`]+)`/g)) {
      found.push({ where: `${document}: ${match[0]}`, args: shellWords(match[1] ?? "") });
    }
  }
  return found;
}

/** Words of a documented command line: double quotes group, an unquoted `#` starts a comment. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/"([^"]*)"|(#.*$)|(\S+)/g)) {
    if (match[2] !== undefined) break;
    words.push(match[1] ?? match[3] ?? "");
  }
  return words;
}

/** The command the leading words name, and the index of the first word after them. */
function commandOf(program: Command, args: readonly string[]): [Command, number] {
  let command = program;
  let index = 0;
  for (; index < args.length; index++) {
    const sub = command.commands.find((candidate) => candidate.name() === args[index]);
    if (sub === undefined) break;
    command = sub;
  }
  return [command, index];
}

/** Why commander would refuse these arguments, or undefined when they fit. */
function misfit(program: Command, args: readonly string[]): string | undefined {
  let [command, index] = commandOf(program, args);
  if (command.commands.length > 0) return `"${command.name()}" needs a sub-command`;
  let positional = 0;
  while (index < args.length) {
    const word = args[index++]!;
    if (!word.startsWith("--")) {
      positional++;
      continue;
    }
    const option: Option | undefined = command.options.find((known) => known.long === word);
    if (option === undefined) return `${command.name()} has no option ${word}`;
    if (!option.required && !option.optional) continue;
    if (index >= args.length && option.required) return `${word} needs a value`;
    index++;
    if (option.variadic) while (index < args.length && !args[index]!.startsWith("-")) index++;
  }
  const declared = command.registeredArguments;
  const required = declared.filter((argument) => argument.required).length;
  const variadic = declared.at(-1)?.variadic === true;
  if (positional < required) return `${command.name()} needs ${required} argument(s)`;
  if (!variadic && positional > declared.length) {
    return `${command.name()} takes ${declared.length} argument(s), not ${positional}`;
  }
  return undefined;
}

describe("capflow command lines in the docs", () => {
  it("each names a command, its options and its arguments as the CLI defines them", async () => {
    const commands = await documentedCommands();
    expect(commands.length).toBeGreaterThan(10);
    const program = createProgram({ context: { out: () => {}, err: () => {}, cwd: root } });
    for (const command of commands) {
      expect(misfit(program, command.args), command.where).toBeUndefined();
    }
  });

  it("mentions in prose name real commands, and options those commands have", async () => {
    const mentions = await mentionedCommands();
    expect(mentions.length).toBeGreaterThan(10);
    const program = createProgram({ context: { out: () => {}, err: () => {}, cwd: root } });
    for (const mention of mentions) {
      const [command, index] = commandOf(program, mention.args);
      const next = mention.args[index];
      // A placeholder (`<args>`, `…`) or an argument may follow; an unknown command may not.
      if (command === program || (command.commands.length > 0 && next !== undefined)) {
        expect(next, mention.where).toMatch(/^(<.*>|…)$/);
      }
      for (const word of mention.args.slice(index).filter((w) => w.startsWith("--"))) {
        expect(
          command.options.map((option) => option.long),
          mention.where,
        ).toContain(word);
      }
    }
  });

  it("read-only ones run from the repository root and print what the docs say", async () => {
    const runnable = (await documentedCommands()).filter((command) =>
      readOnly.has(command.args[0] ?? ""),
    );
    expect(runnable.length).toBeGreaterThan(3);
    for (const command of runnable) {
      let out = "";
      const exitCode = await runCli(command.args, {
        context: {
          cwd: root,
          out: (text) => {
            out += text;
          },
          err: (text) => {
            out += text;
          },
        },
      });
      expect(exitCode, `${command.where}\n${out}`).toBe(0);
      if (command.output !== undefined) expect(out, command.where).toContain(command.output);
    }
  });
});
