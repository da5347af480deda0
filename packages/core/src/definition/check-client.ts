import type { UpstreamClientDefinition } from "./client-types.ts";
import { didYouMean } from "./closest-name.ts";
import { cidrProblem } from "./ip-allow-list.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";

export interface ClientReferences {
  /** `channel/behavior` of every behavior defined. */
  behaviors: ReadonlySet<string>;
  channels: ReadonlySet<string>;
  products: ReadonlySet<string>;
}

/**
 * What the client schema cannot say: allow-list entries must be addresses or CIDRs, the key
 * format must suit the algorithm, and what the client may start must exist.
 */
export function checkClient(
  client: UpstreamClientDefinition,
  known: ClientReferences,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const problem = (pointer: string, message: string) =>
    problems.push({ code: "client-settings", file, pointer, message });
  client.allowedIps.forEach((entry, index) => {
    const found = cidrProblem(entry);
    if (found !== undefined) problem(toPointer(["allowedIps", index]), found);
  });
  const { algorithm, key } = client.signature;
  const symmetric = algorithm.startsWith("hmac-");
  if (symmetric && key.format === "pem") {
    problem(
      "/signature/key/format",
      `${algorithm} verifies with a shared secret, not a PEM key; use "utf8", "hex" or "base64"`,
    );
  }
  if (
    !symmetric &&
    (key.format === "utf8" || (algorithm === "rsa-sha256" && key.format === "hex"))
  ) {
    problem(
      "/signature/key/format",
      `${algorithm} verifies with the client's public key; use ${algorithm === "rsa-sha256" ? '"pem" (or leave it out)' : '"hex" or "pem"'}`,
    );
  }
  if (!algorithm.startsWith("sm2") && client.signature.userId !== undefined) {
    problem("/signature/userId", `"userId" is for SM2 signatures only; remove it`);
  }
  const behaviors = [...known.behaviors];
  (client.allow.behaviors ?? []).forEach((entry, index) => {
    const [channel = "", behavior = ""] = entry.split("/");
    const pointer = toPointer(["allow", "behaviors", index]);
    if (behavior === "*") {
      if (!known.channels.has(channel)) {
        problem(
          pointer,
          `channel "${channel}" is not defined${didYouMean(channel, known.channels)}; fix the code`,
        );
      }
    } else if (!known.behaviors.has(entry)) {
      problem(
        pointer,
        `behavior "${entry}" is not defined${didYouMean(entry, behaviors)}; fix the name (channel/behavior)`,
      );
    }
  });
  (client.allow.products ?? []).forEach((code, index) => {
    if (!known.products.has(code)) {
      problem(
        toPointer(["allow", "products", index]),
        `product "${code}" is not defined${didYouMean(code, known.products)}; fix the code`,
      );
    }
  });
  return problems;
}
