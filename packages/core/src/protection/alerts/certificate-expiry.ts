import { channelCertificates } from "../../change/check-secrets.ts";
import { describeRef } from "../../crypto/secret-reference.ts";
import { createDefaultSecretResolver } from "../../crypto/secret-resolvers.ts";
import { channelPeriods } from "../../definition/future-values.ts";
import type { Clock } from "../../ports/clock.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import type { SecretResolver } from "../../ports/secret-resolver.ts";
import type { ExpiringCertificate } from "./alert-monitor.ts";

export interface ChannelCertificateExpiryOptions {
  /** The channels whose keys and certificates are read: those of the stored behaviors. */
  definitions: DefinitionSource;
  clock: Pick<Clock, "now">;
  /** Resolves the channels' references, as the engine does. Default: `env:` and `file:`. */
  secrets?: SecretResolver;
}

const day = 86_400_000;

/**
 * The `certificates` source of `AlertMonitorOptions` for `certificate-expiry` rules: the PEM
 * certificates the channels' `crypto` and `tls` reference (as `capflow validate --check-secrets`
 * reads them) that expire within `withinDays`, or have expired, while still in use. A channel's
 * scheduled values (`future`) count: a certificate replaced by values that take effect before it
 * expires is not reported, and one scheduled to take effect is checked too. Each is reported as
 * `<channel> <pointer>` (`lanbank /tls/ca/0`), so pushing or scheduling a renewed certificate
 * resolves the alert at the next evaluation. References that do not resolve here are skipped.
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
    const codes = [...new Set((await options.definitions.listBehaviors()).map((b) => b.channel))];
    const expiring = new Map<string, ExpiringCertificate>();
    for (const code of codes.sort()) {
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
    return [...expiring.values()];
  };
}
