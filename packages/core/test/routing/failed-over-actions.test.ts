import { describe } from "vitest";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { failedOverScenarios } from "./failed-over-scenarios.ts";

describe("operator actions on an instance that failed over (memory store)", () => {
  failedOverScenarios(async () => new MemoryInstanceStore());
});
