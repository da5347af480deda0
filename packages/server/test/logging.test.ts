import {
  createEngine,
  MemoryDefinitionSource,
  MemoryInstanceStore,
  ProcessorRegistry,
} from "@capflow/core";
import { expect, test } from "vitest";
import { createServer } from "../src/index.ts";

test("log lines carry no Authorization, cookie or query string", async () => {
  const lines: string[] = [];
  const engine = createEngine({
    store: new MemoryInstanceStore(),
    definitions: new MemoryDefinitionSource({ channels: [], behaviors: [] }),
    processors: new ProcessorRegistry(),
  });
  const app = createServer({
    engine,
    log: { level: "debug", stream: { write: (line: string) => lines.push(line) } },
  });
  app.get("/echo", async (request) => {
    request.log.info({ req: request, headers: request.headers }, "headers seen");
    return { ok: true };
  });
  const answer = await app.inject({
    method: "GET",
    url: "/echo?sign=partner-signature",
    headers: { authorization: "Bearer cfo_secret-token", cookie: "session=abc" },
  });
  expect(answer.statusCode).toBe(200);
  await app.close();
  const text = lines.join("");
  expect(text).toContain("headers seen");
  expect(text).toContain("<redacted>");
  expect(text).not.toContain("secret-token");
  expect(text).not.toContain("session=abc");
  expect(text).not.toContain("partner-signature");
});
