import { loadPublicKey, loadSecretKey } from "../crypto/keys/load-key.ts";
import type { UpstreamClientDefinition } from "../definition/client-types.ts";
import type { Problem } from "../definition/problem.ts";
import { type CheckSecretsOptions, keyProblem } from "./check-secrets.ts";

/**
 * Loads an upstream client's verification key as the intake API will, so a reference that does
 * not resolve or a key that does not parse is found by `validate --check-secrets` and `push`
 * rather than by the client's first request.
 */
export async function checkClientKey(
  client: UpstreamClientDefinition,
  file: string,
  options: Pick<CheckSecretsOptions, "secrets" | "baseDir">,
): Promise<Problem[]> {
  const { algorithm, key } = client.signature;
  const spec = { ref: key.ref, ...(key.format === undefined ? {} : { format: key.format }) };
  const context = {
    secrets: options.secrets,
    baseDir: options.baseDir,
    context: { client: client.id, role: "intake-verification" },
  };
  try {
    if (algorithm === "rsa-sha256") await loadPublicKey(spec, "rsa", context);
    else if (algorithm === "sm2-sm3") await loadPublicKey(spec, "sm2", context);
    else await loadSecretKey(spec, context);
    return [];
  } catch (error) {
    return [keyProblem(error, file, "/signature/key")];
  }
}
