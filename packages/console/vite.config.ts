import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The console is built once, here, and shipped as files in `dist/app/` (served by `capflow serve`
 * at /console). Relative asset URLs, so any mount path works.
 */
export default defineConfig({
  root: fileURLToPath(new URL("./app", import.meta.url)),
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  resolve: { alias: { react: "preact/compat", "react-dom": "preact/compat" } },
  build: {
    outDir: fileURLToPath(new URL("./dist/app", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 800,
  },
  logLevel: "warn",
});
