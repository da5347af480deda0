import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PartnerKeySet } from "../../../src/crypto/configurable/mirror.ts";
import { mirrorCryptoDefinition } from "../../../src/crypto/configurable/mirror.ts";
import type { ConfigurableCryptoOptions } from "../../../src/crypto/configurable/options.ts";
import type { CryptoHandler } from "../../../src/crypto/handler.ts";
import { createCryptoHandlerRegistry } from "../../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../../src/crypto/secret-resolvers.ts";
import type { CryptoDefinition } from "../../../src/definition/types.ts";

const cryptoDoc = fileURLToPath(new URL("../../../../../docs/crypto.md", import.meta.url));

/**
 * The `crypto` blocks docs/crypto.md prints under `<!-- profile: name -->`, parsed: the partner
 * profiles are tested exactly as documented, so the page cannot drift from what works.
 */
export function documentedProfiles(): Map<string, CryptoDefinition> {
  const text = readFileSync(cryptoDoc, "utf8");
  const profiles = new Map<string, CryptoDefinition>();
  for (const match of text.matchAll(/<!-- profile: ([\w-]+) -->\n```json\n([\s\S]*?)```/g)) {
    profiles.set(match[1] ?? "", JSON.parse(match[2] ?? "") as CryptoDefinition);
  }
  return profiles;
}

export function documentedProfile(name: string): CryptoDefinition {
  const profile = documentedProfiles().get(name);
  if (profile === undefined) throw new Error(`docs/crypto.md has no profile ${name}`);
  return structuredClone(profile);
}

export function optionsOf(definition: CryptoDefinition): ConfigurableCryptoOptions {
  return definition.options as ConfigurableCryptoOptions;
}

export interface ProfileSetup {
  /** Files the profile's `file:` references name, relative to the channel folder. */
  files: Record<string, string>;
  env?: Record<string, string>;
  /** A fixed clock for timestamps and replay windows. */
  clock?: { now(): number };
}

/**
 * The platform's handler and the partner's mirrored one for a documented profile, with test keys
 * written under the file names the profile references.
 */
export async function profileHandlers(
  definition: CryptoDefinition,
  setup: ProfileSetup,
  partnerKeys: PartnerKeySet,
): Promise<{ platform: CryptoHandler; partner: CryptoHandler; baseDir: string }> {
  const baseDir = mkdtempSync(join(tmpdir(), "capflow-profile-"));
  for (const [name, content] of Object.entries(setup.files)) {
    mkdirSync(dirname(join(baseDir, name)), { recursive: true });
    writeFileSync(join(baseDir, name), content);
  }
  const deps = {
    secrets: createDefaultSecretResolver({ env: setup.env ?? {}, baseDir }),
    baseDir,
    channel: "documented-profile",
    ...(setup.clock === undefined ? {} : { clock: setup.clock }),
  };
  const registry = createCryptoHandlerRegistry();
  const platform = await registry.create(definition, deps);
  const partner = await registry.create(mirrorCryptoDefinition(definition, partnerKeys), deps);
  return { platform, partner, baseDir };
}
