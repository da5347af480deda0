import { X509Certificate } from "node:crypto";
import type { CryptoHandlerRegistry } from "../crypto/handler-registry.ts";
import { describeRef, referenceScheme } from "../crypto/secret-reference.ts";
import { isRetiredClient } from "../definition/client-retired.ts";
import type { UpstreamClientDefinition } from "../definition/client-types.ts";
import { parseDuration } from "../definition/duration.ts";
import { toPointer } from "../definition/json-pointer.ts";
import type { Problem } from "../definition/problem.ts";
import type { ChannelDefinition } from "../definition/types.ts";
import { toCapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import { Redacted } from "../redacted.ts";
import { loadChannelTls } from "../transport/channel-tls.ts";

export interface CheckSecretsOptions {
  cryptoHandlers: CryptoHandlerRegistry;
  secrets: SecretResolver;
  /** Folder relative `file:` references resolve against, as the workers will resolve them. */
  baseDir?: string;
  clock: Pick<Clock, "now">;
  /** Certificates that expire sooner than this are reported as warnings. Default `30d`. */
  expiryWarning?: string;
}

/** One channel to check, with the file it came from (for problem locations). */
export interface ChannelToCheck {
  file: string;
  definition: ChannelDefinition;
  /**
   * Its crypto options were refused (`crypto-options`, `unknown-crypto-handler`): the handler is
   * not created, so its keys are not loaded, and the problems already reported are not reported
   * again as a `key-invalid` repeating them. TLS keys and certificates are still checked.
   */
  cryptoRefused?: boolean;
}

/**
 * Loads each channel's keys the way a worker will (the crypto handler and the TLS identity), so a
 * reference that does not resolve, or a key that does not parse, is found before a push rather
 * than when an instance parks. Also reads every PEM certificate the channel references and warns
 * about those expiring within `expiryWarning` (or expired). Messages name references, never
 * values.
 */
export async function checkChannelSecrets(
  channels: readonly ChannelToCheck[],
  options: CheckSecretsOptions,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const { file, definition, cryptoRefused } of channels) {
    const deps = {
      secrets: options.secrets,
      clock: options.clock,
      channel: definition.code,
      ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
    };
    if (cryptoRefused !== true) {
      try {
        await options.cryptoHandlers.create(definition.crypto, deps);
      } catch (error) {
        problems.push(keyProblem(error, file, "/crypto"));
      }
    }
    try {
      await loadChannelTls(definition.tls, {
        secrets: options.secrets,
        context: { channel: definition.code, role: "tls" },
        ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
      });
    } catch (error) {
      problems.push(keyProblem(error, file, "/tls"));
    }
    problems.push(...(await certificateWarnings(definition, file, options)));
  }
  return problems;
}

/** A key that did not load as a problem: `secret-unresolved` or `key-invalid`, at `pointer`. */
export function keyProblem(error: unknown, file: string, pointer: string): Problem {
  const failure = toCapflowError(error);
  const unresolved = failure.code === "SECRET_NOT_FOUND";
  return {
    code: unresolved ? "secret-unresolved" : "key-invalid",
    file,
    pointer: typeof failure.context.pointer === "string" ? failure.context.pointer : pointer,
    message: unresolved
      ? `${failure.message}; make the reference resolve where workers run, or push with --no-check-secrets if only the workers can resolve it`
      : failure.message,
  };
}

async function certificateWarnings(
  channel: ChannelDefinition,
  file: string,
  options: CheckSecretsOptions,
): Promise<Problem[]> {
  const certificates = await channelCertificates(channel, {
    secrets: options.secrets,
    ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
  });
  return expiryWarnings(certificates, file, options, {
    of: "",
    expired: "get a renewed one from the funder and schedule it (future values) or push it",
    expiring: "get the renewed one and schedule it from that day (future values)",
  });
}

/**
 * Warns about an upstream client's signature key given as a certificate that expires within
 * `expiryWarning` (or has expired), at `/signature/key/ref`. A bare key or an HMAC secret has no
 * expiry: nothing is said about it.
 */
export async function clientCertificateWarnings(
  client: UpstreamClientDefinition,
  file: string,
  options: Pick<CheckSecretsOptions, "secrets" | "baseDir" | "clock" | "expiryWarning">,
): Promise<Problem[]> {
  // A retired client (it allows nothing) verifies no request: its certificate expiring is news
  // to no one, as for the certificate-expiry alert.
  if (isRetiredClient(client)) return [];
  const certificates = await clientCertificates(client, {
    secrets: options.secrets,
    ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
  });
  // Clients have no scheduled values: the renewed certificate is pushed when the client uses it.
  return expiryWarnings(certificates, file, options, {
    of: ` of upstream client ${client.id}`,
    expired:
      "get the client's renewed certificate and push it in its client definition (signature.key)",
    expiring:
      "get the client's renewed certificate and push it in its client definition (signature.key) when the client signs with the renewed key",
  });
}

/** `certificate-expiring` warnings for the certificates expiring within `expiryWarning`. */
function expiryWarnings(
  certificates: readonly ChannelCertificate[],
  file: string,
  options: Pick<CheckSecretsOptions, "clock" | "expiryWarning">,
  wording: { of: string; expired: string; expiring: string },
): Problem[] {
  const now = options.clock.now();
  const warnBefore = now + parseDuration(options.expiryWarning ?? "30d");
  const problems: Problem[] = [];
  for (const { pointer, ref, subject, expiresAt } of certificates) {
    if (expiresAt > warnBefore) continue;
    const when = new Date(expiresAt).toISOString();
    const certificate = `the certificate ${subject}${wording.of} in ${describeRef(ref)}`;
    problems.push({
      code: "certificate-expiring",
      severity: "warning",
      file,
      pointer,
      message:
        expiresAt <= now
          ? `${certificate} expired on ${when}; ${wording.expired}`
          : `${certificate} expires on ${when}, in ${Math.ceil((expiresAt - now) / 86_400_000)} days; ${wording.expiring}`,
    });
  }
  return problems;
}

/** A PEM certificate a channel (or an upstream client) references, and when it expires. */
export interface ChannelCertificate {
  /**
   * Where the reference is in the definition: `/tls/ca/0`, `/crypto/options/keys/verifying/0/ref`,
   * a client's `/signature/key/ref`.
   */
  pointer: string;
  ref: string;
  /** The certificate's subject, one line: `CN=Bank Test CA`. */
  subject: string;
  /** Its `notAfter`, epoch milliseconds. */
  expiresAt: number;
}

/**
 * Every PEM certificate the channel's `crypto` and `tls` references hold (a bundle gives each of
 * its certificates). References that do not resolve and values that hold no certificate (keys,
 * secrets) are skipped: loading the channel reports those.
 */
export async function channelCertificates(
  channel: ChannelDefinition,
  options: { secrets: SecretResolver; baseDir?: string },
): Promise<ChannelCertificate[]> {
  const found: ChannelCertificate[] = [];
  for (const { pointer, ref } of secretReferences(channel)) {
    for (const certificate of await referencedCertificates(ref, options)) {
      found.push({ pointer, ref, ...certificate });
    }
  }
  return found;
}

/**
 * The PEM certificates an upstream client's signature key references (`/signature/key/ref`): an
 * RSA or SM2 client may be given its certificate, whose `notAfter` is when capflow stops holding
 * a valid one for it. A bare public key and an HMAC shared secret carry no expiry: none is
 * reported for them. A reference that does not resolve is skipped (the intake reports it).
 */
export async function clientCertificates(
  client: UpstreamClientDefinition,
  options: { secrets: SecretResolver; baseDir?: string },
): Promise<ChannelCertificate[]> {
  const { algorithm, key } = client.signature;
  if (algorithm === "hmac-sha256" || algorithm === "hmac-sm3") return [];
  const certificates = await referencedCertificates(key.ref, options);
  return certificates.map((certificate) => ({
    pointer: "/signature/key/ref",
    ref: key.ref,
    ...certificate,
  }));
}

/** Each PEM certificate a reference holds (a bundle gives each); nothing when it does not resolve. */
async function referencedCertificates(
  ref: string,
  options: { secrets: SecretResolver; baseDir?: string },
): Promise<{ subject: string; expiresAt: number }[]> {
  let text: string;
  try {
    const bytes = await options.secrets.resolve(ref, {
      ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
    });
    text = Redacted.reveal(bytes).toString("latin1");
  } catch {
    return []; // Reported by the handler, the TLS loading or the intake that needs it.
  }
  const found: { subject: string; expiresAt: number }[] = [];
  for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ??
    []) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      continue;
    }
    found.push({
      subject: certificate.subject.replaceAll("\n", ", "),
      expiresAt: Date.parse(certificate.validTo),
    });
  }
  return found;
}

/** Every secret reference in a channel definition, with where it is. */
function secretReferences(channel: ChannelDefinition): { pointer: string; ref: string }[] {
  const found: { pointer: string; ref: string }[] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (typeof value === "string") {
      const key = path.at(-1);
      const referenceKey =
        key === "ref" ||
        key === "certificate" ||
        key === "clientCertificate" ||
        typeof key === "number";
      const scheme = referenceScheme(value);
      if (referenceKey && scheme !== undefined && scheme !== "http" && scheme !== "https") {
        found.push({ pointer: toPointer(path), ref: value });
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, [...path, index]);
      });
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    }
  };
  visit(channel.crypto, ["crypto"]);
  visit(channel.tls, ["tls"]);
  return found;
}
