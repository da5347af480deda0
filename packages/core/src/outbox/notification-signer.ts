import type { KeySpec } from "../crypto/keys/key-spec.ts";
import { loadPrivateKey, loadSecretKey } from "../crypto/keys/load-key.ts";
import { createDefaultSecretResolver } from "../crypto/secret-resolvers.ts";
import { createDigestScheme } from "../crypto/signers/digest-signer.ts";
import { createRsaScheme } from "../crypto/signers/rsa-signer.ts";
import type { SignatureScheme } from "../crypto/signers/signature-scheme.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";

/** capflow's key for signing notifications: a secret shared with receivers, or an RSA key pair. */
export type NotificationSigning =
  | { algorithm: "hmac-sha256"; secret: KeySpec }
  | { algorithm: "rsa-sha256"; privateKey: KeySpec };

export type NotificationSignatureAlgorithm = NotificationSigning["algorithm"];

/** Signs what a notification's receiver verifies (see {@link signedContent}). */
export interface NotificationSigner {
  readonly algorithm: NotificationSignatureAlgorithm;
  /** Sent as `capflow-key-id` when set (a key's `id`, or its certificate's serial). */
  readonly keyId: string | undefined;
  sign(content: Buffer): Promise<Buffer>;
}

/**
 * The bytes a notification's signature covers: `<timestamp>.<event id>.<body>` in UTF-8, with the
 * timestamp in Unix seconds as sent in `capflow-timestamp`. Binding the timestamp and the event id
 * lets receivers refuse replays outside their window and trust the id they deduplicate on.
 */
export function signedContent(timestamp: number, eventId: string, body: string): Buffer {
  return Buffer.from(`${timestamp}.${eventId}.${body}`, "utf8");
}

/** Loads the signing key once (through the secret resolver) and returns a signer. */
export async function createNotificationSigner(
  signing: NotificationSigning,
  options: { secrets?: SecretResolver; baseDir?: string } = {},
): Promise<NotificationSigner> {
  const ctx = {
    secrets: options.secrets ?? createDefaultSecretResolver(),
    baseDir: options.baseDir,
    context: { role: "notification signing" },
  };
  let scheme: SignatureScheme;
  let keyId: string | undefined;
  if (signing.algorithm === "hmac-sha256") {
    scheme = createDigestScheme("hmac-sha256", await loadSecretKey(signing.secret, ctx), undefined);
    keyId = signing.secret.id;
  } else {
    const key = await loadPrivateKey(signing.privateKey, "rsa", ctx);
    scheme = createRsaScheme("rsa-sha256", key, 0);
    keyId = signing.privateKey.id ?? key.id;
  }
  return { algorithm: signing.algorithm, keyId, sign: (content) => scheme.sign(content) };
}
