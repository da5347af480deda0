import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { loadDefinitions } from "../../src/definition/load-definitions.ts";
import type { KnownCryptoHandlers, KnownProcessors } from "../../src/definition/registries.ts";
import { registerBuiltinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";

const examples = ["lanbank", "meadow", "jade-trust"];

// The real registries satisfy the validator's structural interfaces (checked by the compiler).
const processors: KnownProcessors = registerBuiltinProcessors(new ProcessorRegistry());
const cryptoHandlers: KnownCryptoHandlers = createCryptoHandlerRegistry();

describe("example definitions", () => {
  test.each(examples)(
    "%s is valid against the built-in processors and crypto handlers",
    async (example) => {
      const dir = fileURLToPath(
        new URL(`../../../../examples/${example}/definitions`, import.meta.url),
      );
      const result = await loadDefinitions(dir, { processors, cryptoHandlers });
      expect(result.problems).toEqual([]);
      expect(result.channels.map((channel) => channel.code)).toEqual([example]);
      expect(result.behaviors.length).toBeGreaterThanOrEqual(2);
    },
  );
});
