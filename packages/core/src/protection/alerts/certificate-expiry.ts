import { channelCertificates, clientCertificates } from "../../change/check-secrets.ts";
import { describeRef } from "../../crypto/secret-reference.ts";
import { createDefaultSecretResolver } from "../../crypto/secret-resolvers.ts";
import { isRetiredClient } from "../../definition/client-retired.ts";
import { channelPeriods } from "../../definition/future-values.ts";
import type { Clock } from "../../ports/clock.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import type { SecretResolver } from "../../ports/secret-resolver.ts";
import type { ExpiringCertificate } from "./alert-monitor.ts";

export interface ChannelCertificateExpiryOptions {
  /** The channels and upstream clients whose certificates are read: every one stored. */
  definitions: DefinitionSource;
  clock: Pick<Clock, "now">;
  /** Resolves the channels' references, as the engine does. Default: `env:` and `file:`. */
  secrets?: SecretResolver;
}

const day = 86_400_000;

/**
 * The `certificates` source of `AlertMonitorOptions` for `certificate-expiry` rules: the PEM
 * certificates that expire within `withinDays`, or have expired, while still in use, of every key
 * capflow holds:
 *
 * - every stored channel's `crypto` and `tls` references (as `capflow validate --check-secrets`
 *   reads them), whether or not it has behaviors yet. A channel's scheduled values (`future`)
 *   count: a certificate replaced by values that take effect before it expires is not reported,
 *   and one scheduled to take effect is checked too. Reported as `<channel> <pointer>`
 *   (`lanbank /tls/ca/0`);
 * - every upstream client's signature key (`/signature/key/ref`) given as a certificate, reported
 *   as `client <id> /signature/key/ref`. A bare public key or an HMAC secret has no expiry and is
 *   never reported, nor is a retired client's (its `allow` lists nothing: clients cannot be
 *   deleted, so pushing it with `"allow": {}` retires it and resolves its alert).
 *
 * Pushing or scheduling a renewed certificate resolves the alert at the next evaluation.
 * References that do not resolve here are skipped.
 *
 * ```ts
 * const alerts = new AlertMonitor({
 *   ...,
 *   certificates: channelCertificateExpiry({ definitions: db.definitions, clock: systemClock }),
 * });
 * ```
 */
export function channelCertificateExpiry(
  options: ChannelCertificateExpiryOptions,
): (withinDays: number) => Promise<ExpiringCertificate[]> {
  const secrets = options.secrets ?? createDefaultSecretResolver();
  return async (withinDays) => {
    const now = options.clock.now();
    const horizon = now + withinDays * day;
    const expiring = new Map<string, ExpiringCertificate>();
    for (const code of await options.definitions.listChannels()) {
      const loaded = await options.definitions.getChannel(code);
      if (loaded === undefined) continue;
      for (const period of channelPeriods(loaded.definition)) {
        if (period.until !== undefined && period.until <= now) continue; // replaced already
        const certificates = await channelCertificates(period.definition, {
          secrets,
          ...(loaded.baseDir === undefined ? {} : { baseDir: loaded.baseDir }),
        });
        for (const { pointer, ref, subject, expiresAt } of certificates) {
          // Still in use when it expires, and that is within the window (or already past).
          if (expiresAt > horizon) continue;
          if (period.until !== undefined && expiresAt >= period.until) continue;
          const key = `${code} ${pointer}`;
          if (expiring.has(key)) continue;
          const when = new Date(expiresAt).toISOString();
          const scheduled =
            period.from !== undefined && period.from > now
              ? ` (in the values scheduled from ${new Date(period.from).toISOString()})`
              : "";
          expiring.set(key, {
            subject: key,
            message:
              expiresAt <= now
                ? `the certificate ${subject} of ${code} in ${describeRef(ref)}${scheduled} expired on ${when}: get a renewed one from the funder and push it, or schedule it (future values)`
                : `the certificate ${subject} of ${code} in ${describeRef(ref)}${scheduled} expires on ${when}, in ${Math.ceil((expiresAt - now) / day)} days: get the renewed one and schedule it from that day (future values)`,
          });
        }
      }
    }
    for (const id of await options.definitions.listClients()) {
      const loaded = await options.definitions.getClient(id);
      // A retired client (allowed nothing) makes no request its key could verify.
      if (loaded === undefined || isRetiredClient(loaded.definition)) continue;
      const certificates = await clientCertificates(loaded.definition, {
        secrets,
        ...(loaded.baseDir === undefined ? {} : { baseDir: loaded.baseDir }),
      });
      for (const { pointer, ref, subject, expiresAt } of certificates) {
        if (expiresAt > horizon) continue;
        const key = `client ${id} ${pointer}`;
        if (expiring.has(key)) continue;
        const when = new Date(expiresAt).toISOString();
        expiring.set(key, {
          subject: key,
          message:
            expiresAt <= now
              ? `the certificate ${subject} of upstream client ${id} in ${describeRef(ref)} expired on ${when}: get the client's renewed certificate and push it in its client definition (signature.key)`
              : `the certificate ${subject} of upstream client ${id} in ${describeRef(ref)} expires on ${when}, in ${Math.ceil((expiresAt - now) / day)} days: get the client's renewed certificate and push it in its client definition (signature.key) when the client signs with the renewed key`,
        });
      }
    }
    return [...expiring.values()];
  };
}
