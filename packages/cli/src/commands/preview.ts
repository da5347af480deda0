import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type BehaviorDefinition,
  CapflowError,
  type ChannelDefinition,
  codecFor,
  compileInputSchema,
  type InputFieldProblem,
  loadDefinitions,
  type MessageTemplate,
  maskFields,
  renderMessage,
} from "@capflow/core";
import { defaultCharset, ownEntry } from "@capflow/core/internal";
import type { CapflowCommand } from "../command.ts";
import {
  cryptoHandlersOptionHelp,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { plural } from "../plural.ts";
import { sealForPreview } from "../sealed-preview.ts";

interface PreviewOptions {
  step: string;
  input?: string;
  context?: string;
  processors?: string[];
  cryptoHandlers?: string[];
  sealed?: boolean;
  keysDir?: string;
  json?: boolean;
  instance: string;
  attempt: string;
  now?: string;
  mask?: boolean;
}

/**
 * `capflow preview <dir> --step <channel>/<behavior>/<step> --input data.json`: renders a step's
 * request (method, URL, headers, encoded body) with the built-in processors and any given with
 * `--processors`, without sending it. With `--sealed`, the channel's crypto handler seals it with
 * the channel's keys, and the preview shows the exact wire form and the string that was signed.
 */
export const previewCommand: CapflowCommand = {
  name: "preview",
  register(program, context) {
    program
      .command("preview")
      .description(
        "render the request of one step without sending it; --sealed signs and encrypts it as a worker would",
      )
      .argument("<dir>", "folder of definitions")
      .requiredOption("-s, --step <channel/behavior/step>", "which step, e.g. lanbank/loan/apply")
      .option("-i, --input <file>", "JSON file with the instance input")
      .option("-c, --context <file>", "JSON file with the instance context (default: the input)")
      .option("-p, --processors <module...>", processorsOptionHelp)
      .option("--instance <id>", "instance id (feeds serialNo)", "preview")
      .option("--attempt <number>", "attempt number (feeds serialNo)", "1")
      .option("--now <time>", "render as of this ISO-8601 time (default: now)")
      .option("--mask", "mask personal data with the channel's and behavior's masking rules")
      .option(
        "--sealed",
        "seal it with the channel's crypto handler and keys: the exact bytes and headers on the wire and the canonical string signed (secrets redacted)",
      )
      .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
      .option(
        "--keys-dir <dir>",
        "folder relative `file:` key references resolve against, as for `capflow worker` (default: the definitions folder)",
      )
      .option("--json", "print the request as JSON")
      .action(async (dir: string, options: PreviewOptions) => {
        const extensions = await loadExtensions(options, context.cwd);
        const registry = extensions.processors;
        const loaded = await loadDefinitions(resolve(context.cwd, dir), { processors: registry });
        const [channelCode, behaviorCode, stepCode, ...rest] = options.step.split("/");
        if (!channelCode || !behaviorCode || !stepCode || rest.length > 0) {
          throw new CapflowError(
            "CONFIG_INVALID",
            `--step must be <channel>/<behavior>/<step>, e.g. lanbank/loan/apply (got "${options.step}")`,
          );
        }
        const channel = loaded.channels.find((item) => item.code === channelCode);
        const behavior = loaded.behaviors.find(
          (item) => item.channel === channelCode && item.code === behaviorCode,
        );
        if (channel === undefined || behavior === undefined) {
          const known = loaded.behaviors.map((item) => `${item.channel}/${item.code}`);
          context.err(
            `behavior "${channelCode}/${behaviorCode}" is not defined under ${dir}; ${
              known.length === 0 ? "no behavior loaded" : `known: ${known.join(", ")}`
            }\n`,
          );
          context.setExitCode(1);
          return;
        }
        const target = requestOf(behavior, stepCode);
        if (typeof target === "string") {
          context.err(`${target}\n`);
          context.setExitCode(1);
          return;
        }
        if (loaded.problems.length > 0) {
          context.err(
            `warning: ${plural(loaded.problems.length, "problem")} in the definitions; run \`capflow validate ${dir}\`\n`,
          );
        }
        const iface = ownEntry(channel.interfaces, target.interface);
        if (iface === undefined) {
          context.err(
            `interface "${target.interface}" is not defined in channel "${channel.code}"\n`,
          );
          context.setExitCode(1);
          return;
        }
        const input = options.input === undefined ? {} : await readJson(context.cwd, options.input);
        for (const problem of inputProblems(behavior, input)) {
          context.err(`warning: input ${problem.pointer || "(whole)"} ${problem.message}\n`);
        }
        const instanceContext =
          options.context === undefined ? input : await readJson(context.cwd, options.context);
        const now = options.now === undefined ? Date.now() : Date.parse(options.now);
        if (Number.isNaN(now)) {
          throw new CapflowError(
            "CONFIG_INVALID",
            `--now must be an ISO-8601 time (got "${options.now}")`,
          );
        }
        const rendered = await renderMessage(
          target.request,
          {
            input,
            context: instanceContext,
            channel: { code: channel.code, timeZone: channel.timeZone },
            behavior: behavior.code,
            step: stepCode,
            attempt: {
              instanceId: options.instance,
              number: Number(options.attempt),
              startedAt: now,
            },
          },
          { registry, clock: { now: () => now }, path: iface.path },
        );
        const charset = iface.charset ?? channel.charset ?? defaultCharset;
        const codec = codecFor(target.request.format, {
          ...(target.request.xml === undefined ? {} : { xml: target.request.xml }),
          charset,
        });
        if (options.sealed === true) {
          if (options.mask === true) {
            throw new CapflowError(
              "CONFIG_INVALID",
              "--mask and --sealed do not go together: a sealed request is signed over the real values; preview it unsealed with --mask, or sealed without it",
            );
          }
          const sealed = await sealForPreview({
            channel,
            cryptoHandlers: extensions.cryptoHandlers,
            keysDir: resolve(context.cwd, options.keysDir ?? dir),
            now,
            request: {
              method: iface.method,
              path: rendered.path ?? iface.path,
              headers: rendered.headers,
              query: rendered.query,
              body: rendered.body,
              codec,
            },
            charset,
          });
          if (options.json === true) {
            const { bytes, ...rest } = sealed;
            context.out(
              `${JSON.stringify({ ...rest, bytes: bytes.toString("base64") }, null, 2)}\n`,
            );
            return;
          }
          const signed = sealed.signed.map((text) => `\nsigned over:\n${text}\n`).join("");
          const size = `${plural(sealed.bytes.length, "byte")} in ${sealed.charset}`;
          context.out(
            `${formatRequest(sealed.method, sealed.url, sealed.headers, sealed.body)}\n\n${size}\n${signed === "" ? "\nno signature\n" : signed}`,
          );
          return;
        }
        const rules = maskingRules(channel, behavior);
        const show = <T>(value: T): T =>
          options.mask === true ? (maskFields(value, rules) as T) : value;
        const body = rendered.body === undefined ? "" : codec.encode(show(rendered.body));
        const url = new URL(`${channel.baseUrl.replace(/\/$/, "")}${rendered.path ?? iface.path}`);
        for (const [key, value] of Object.entries(rendered.query)) url.searchParams.set(key, value);
        const headers = { "Content-Type": codec.contentType, ...show(rendered.headers) };
        if (options.json === true) {
          const request = { method: iface.method, url: url.toString(), headers, body };
          context.out(`${JSON.stringify(request, null, 2)}\n`);
          return;
        }
        context.out(`${formatRequest(iface.method, url.toString(), headers, body)}\n`);
      });
  },
};

function formatRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string,
): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\n`);
  return `${method} ${url}\n${lines.join("")}\n${body}`;
}

/** The request template and interface of a step that sends one, or why it has none. */
function requestOf(
  behavior: BehaviorDefinition,
  stepCode: string,
): { request: MessageTemplate; interface: string } | string {
  const step = Object.hasOwn(behavior.steps, stepCode) ? behavior.steps[stepCode] : undefined;
  if (step === undefined) {
    return `step "${stepCode}" is not defined in ${behavior.channel}/${behavior.code}; steps: ${Object.keys(behavior.steps).join(", ")}`;
  }
  if (step.kind === "call" || step.kind === "poll") {
    return { request: step.request, interface: step.interface };
  }
  if (step.kind === "callback" && step.poll !== undefined) {
    return { request: step.poll.request, interface: step.poll.interface };
  }
  return `step "${stepCode}" is a ${step.kind} step and sends no request`;
}

/**
 * Where the input does not match the behavior's input schema: a worker would refuse to start it,
 * and a missing field would otherwise render as an empty value without a word.
 */
function inputProblems(
  behavior: BehaviorDefinition,
  input: Record<string, unknown>,
): InputFieldProblem[] {
  if (behavior.inputSchema === undefined) return [];
  const compiled = compileInputSchema(behavior.inputSchema);
  return compiled.ok ? compiled.validate(input) : [];
}

function maskingRules(channel: ChannelDefinition, behavior: BehaviorDefinition) {
  return { fields: { ...channel.masking?.fields, ...behavior.masking?.fields } };
}

async function readJson(cwd: string, file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), "utf8");
  } catch (error) {
    throw new CapflowError("CONFIG_INVALID", `cannot read ${file}; check the path`, {
      cause: error,
    });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError("not an object");
    }
    return value as Record<string, unknown>;
  } catch (error) {
    throw new CapflowError("CONFIG_INVALID", `${file} must hold a JSON object`, { cause: error });
  }
}
