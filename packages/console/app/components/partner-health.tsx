import type { Overview, PartnerRow } from "../api/types.ts";
import { formatAge, formatLatency, formatRate } from "../format.ts";
import { useI18n } from "../i18n/i18n.ts";

/**
 * Per channel interface, over every node: the last hour's partner latency, the circuit breaker's
 * worst state, how full the shared limiters are. A column the server could not read says so.
 */
export function PartnerHealth({ overview }: { overview: Overview }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby="partners-title">
      <h2 id="partners-title">{t("overview.partners")}</h2>
      {overview.flowState !== "known" && (
        <p class="notice" role="note">
          {t(`overview.flow.${overview.flowState}`)}
        </p>
      )}
      {overview.partners.length === 0 ? (
        <p>{t("common.none")}</p>
      ) : (
        <div class="table-wrap">
          <table aria-labelledby="partners-title">
            <thead>
              <tr>
                <th scope="col">{t("common.channel")}</th>
                <th scope="col">{t("overview.partners.interface")}</th>
                <th scope="col" class="num">
                  {t("overview.partners.calls")}
                </th>
                <th scope="col" class="num">
                  {t("overview.partners.p50")}
                </th>
                <th scope="col" class="num">
                  {t("overview.partners.p99")}
                </th>
                <th scope="col">{t("overview.partners.breaker")}</th>
                <th scope="col">{t("overview.partners.limiter")}</th>
              </tr>
            </thead>
            <tbody>
              {overview.partners.map((row) => (
                <PartnerLine
                  key={`${row.channel}/${row.interface}`}
                  row={row}
                  now={overview.now}
                  known={overview.flowState === "known"}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {overview.accounts.length > 0 && (
        <>
          <h3 id="accounts-title">{t("overview.accounts")}</h3>
          <div class="table-wrap">
            <table aria-labelledby="accounts-title">
              <thead>
                <tr>
                  <th scope="col">{t("common.channel")}</th>
                  <th scope="col">{t("overview.accounts.account")}</th>
                  <th scope="col">{t("overview.partners.limiter")}</th>
                </tr>
              </thead>
              <tbody>
                {overview.accounts.map((row) => (
                  <tr key={`${row.channel}#${row.account}`}>
                    <th scope="row">{row.channel}</th>
                    <td>{row.account}</td>
                    <td class="limiter-cell">
                      <LimiterFill
                        limiter={row.limiter}
                        known={overview.flowState === "known"}
                        label={`${row.channel} ${row.account}`}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function PartnerLine({ row, now, known }: { row: PartnerRow; now: number; known: boolean }) {
  const { t, locale } = useI18n();
  const { breaker, limiter } = row;
  return (
    <tr>
      <th scope="row">{row.channel}</th>
      <td>{row.interface}</td>
      <td class="num">{row.latency?.calls ?? 0}</td>
      <td class="num">{formatLatency(row.latency?.p50Ms, locale)}</td>
      <td class="num">{formatLatency(row.latency?.p99Ms, locale)}</td>
      <td class="breaker-cell">
        {breaker === null ? (
          t("overview.partners.unknown")
        ) : (
          <>
            <span class={`breaker breaker-${breaker.state}`}>{t(`breaker.${breaker.state}`)}</span>
            {breaker.state !== "closed" && (
              <span class="detail">
                {" "}
                {t("overview.partners.nodes", {
                  count: breaker.state === "open" ? breaker.openNodes : breaker.halfOpenNodes,
                })}
                {breaker.probeAt !== null &&
                  ` · ${t("overview.partners.probe", { age: formatAge(Math.max(0, breaker.probeAt - now), locale) })}`}
              </span>
            )}
          </>
        )}
      </td>
      <td class="limiter-cell">
        <LimiterFill limiter={limiter} known={known} label={`${row.channel} ${row.interface}`} />
      </td>
    </tr>
  );
}

/** How full shared limits are: a meter, the share, and each limit's count. */
function LimiterFill({
  limiter,
  known,
  label,
}: {
  limiter: PartnerRow["limiter"];
  known: boolean;
  label: string;
}) {
  const { t, locale } = useI18n();
  if (limiter === null) {
    return <>{t(known ? "overview.partners.noLimits" : "overview.partners.unknown")}</>;
  }
  return (
    <>
      <meter
        min={0}
        max={1}
        high={0.8}
        optimum={0}
        value={limiter.saturation}
        aria-label={`${t("overview.partners.limiter")} ${label}`}
      />{" "}
      <span class="saturation">{formatRate(limiter.saturation)}</span>
      <span class="detail">
        {[
          limiter.concurrency &&
            t("overview.partners.concurrency", {
              held: limiter.concurrency.held,
              limit: limiter.concurrency.limit,
            }),
          limiter.rate &&
            t("overview.partners.rate", {
              used: limiter.rate.inWindow,
              limit: limiter.rate.limit,
              window: formatAge(limiter.rate.windowMs, locale),
            }),
        ]
          .filter(Boolean)
          .map((text) => ` · ${text}`)
          .join("")}
      </span>
    </>
  );
}
