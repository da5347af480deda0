import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Resolve workspace packages to their TypeScript sources (see each package's "exports").
    conditions: ["@capflow/source"],
  },
  ssr: {
    resolve: {
      conditions: ["@capflow/source"],
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Polled conditions on loopback settle in milliseconds; the slack is for a loaded CI machine.
    expect: { poll: { timeout: 15_000 } },
  },
});
