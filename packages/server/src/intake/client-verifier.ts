import { createHmac, timingSafeEqual, verify } from "node:crypto";
import {
  type LoadedClient,
  loadPublicKey,
  loadSecretKey,
  Redacted,
  type SecretResolver,
  sm2Verify,
} from "@capflow/core";
import { compileIpAllowList, type IpAllowList } from "@capflow/core/internal";

/** One client's checks, built once per definition: its allow-list and its signature key. */
export interface ClientChecks {
  allowList: IpAllowList;
  /** Whether `signature` (its text as sent) signs `data` with the client's key. */
  verify(data: Buffer, signature: string): Promise<boolean>;
}

const built = new WeakMap<object, Promise<ClientChecks>>();

/**
 * The checks of a client definition, loaded once per definition object (a push makes a new one):
 * keys are parsed once, never per request. Throws `SECRET_NOT_FOUND` / `KEY_INVALID` when the key
 * reference does not hold; the caller answers that as a server fault, not as the client's.
 */
export function clientChecks(loaded: LoadedClient, secrets: SecretResolver): Promise<ClientChecks> {
  let checks = built.get(loaded.definition);
  if (checks === undefined) {
    checks = buildChecks(loaded, secrets);
    built.set(loaded.definition, checks);
    checks.catch(() => built.delete(loaded.definition));
  }
  return checks;
}

async function buildChecks(loaded: LoadedClient, secrets: SecretResolver): Promise<ClientChecks> {
  const { definition } = loaded;
  const signature = definition.signature;
  const context = {
    secrets,
    baseDir: loaded.baseDir,
    context: { client: definition.id, role: "intake-verification" },
  };
  const spec = {
    ref: signature.key.ref,
    ...(signature.key.format === undefined ? {} : { format: signature.key.format }),
  };
  const decode = (text: string) =>
    signature.encoding === "hex"
      ? /^([0-9a-fA-F]{2})+$/.test(text)
        ? Buffer.from(text, "hex")
        : undefined
      : /^[A-Za-z0-9+/]+={0,2}$/.test(text)
        ? Buffer.from(text, "base64")
        : undefined;
  const allowList = compileIpAllowList(definition.allowedIps);
  switch (signature.algorithm) {
    case "rsa-sha256": {
      const key = await loadPublicKey(spec, "rsa", context);
      if (key.kind !== "public") throw new TypeError("expected an RSA public key");
      return {
        allowList,
        verify: async (data, text) => {
          const bytes = decode(text);
          if (bytes === undefined) return false;
          return new Promise((resolve) => {
            verify("sha256", data, key.key, bytes, (error, ok) => resolve(!error && ok));
          });
        },
      };
    }
    case "sm2-sm3": {
      const key = await loadPublicKey(spec, "sm2", context);
      if (key.kind !== "sm2-public") throw new TypeError("expected an SM2 public key");
      const options = {
        userId: signature.userId ?? "1234567812345678",
        encoding: signature.sm2Encoding ?? "der",
      } as const;
      return {
        allowList,
        verify: async (data, text) => {
          const bytes = decode(text);
          return bytes !== undefined && sm2Verify(data, bytes, key, options);
        },
      };
    }
    case "hmac-sha256":
    case "hmac-sm3": {
      const secret = await loadSecretKey(spec, context);
      const hash = signature.algorithm === "hmac-sha256" ? "sha256" : "sm3";
      return {
        allowList,
        verify: async (data, text) => {
          const bytes = decode(text);
          if (bytes === undefined) return false;
          const expected = createHmac(hash, Redacted.reveal(secret)).update(data).digest();
          return expected.length === bytes.length && timingSafeEqual(expected, bytes);
        },
      };
    }
  }
}
