import { type InstanceStatus, instanceStatuses } from "../api/types.ts";
import { LoadedView } from "../components/loaded-view.tsx";
import { PartnerHealth } from "../components/partner-health.tsx";
import { formatAge, formatRate } from "../format.ts";
import { useI18n } from "../i18n/i18n.ts";
import { href } from "../router.ts";
import { useSession } from "../session.ts";
import { useLoad } from "../use-load.ts";

/**
 * Per channel and behavior, instances by status and the failure rate; what needs attention; per
 * channel interface, the partner's latency, breaker and limiters across the cluster.
 */
export function OverviewPage() {
  const { t, locale } = useI18n();
  const { client } = useSession();
  const [loaded] = useLoad(() => client.overview(), "overview");
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">{t("overview.title")}</h1>
      <LoadedView loaded={loaded}>
        {(overview) => (
          <>
            <h2>{t("overview.attention")}</h2>
            <ul class="cards">
              {overview.attention.map((group) => {
                const query: Record<string, string> =
                  group.kind === "manual"
                    ? { status: "manual" }
                    : group.kind === "parked"
                      ? { status: "parked" }
                      : {
                          status: "unsettled",
                          olderThanMinutes: String(overview.stuckAfterMinutes),
                        };
                const label =
                  group.kind === "stuck"
                    ? t("overview.attention.stuck", { minutes: overview.stuckAfterMinutes })
                    : t(`overview.attention.${group.kind}`);
                return (
                  <li key={group.kind} class={`card attention-${group.kind}`}>
                    <span class="card-label">{label}</span>
                    <span class="card-count">{group.count}</span>
                    <span class="card-age">
                      {t("common.oldest")}:{" "}
                      {group.oldestUpdatedAt === null
                        ? "—"
                        : formatAge(overview.now - group.oldestUpdatedAt, locale)}
                    </span>
                    <a href={href(["instances"], query)}>{t("overview.attention.open")}</a>
                  </li>
                );
              })}
              <li class="card">
                <span class="card-label">{t("overview.inbox")}</span>
                <span class="card-count">{overview.inboxPending}</span>
              </li>
              <li class="card outbox">
                <span class="card-label">{t("overview.outbox")}</span>
                <span class="card-count">{overview.outbox.pending}</span>
                <span class="card-detail">
                  {t("overview.outbox.detail", {
                    retrying: overview.outbox.retrying,
                    failed: overview.outbox.failed,
                  })}
                </span>
                <span class="card-age">
                  {t("common.oldest")}:{" "}
                  {overview.outbox.oldestPendingAt === null
                    ? "—"
                    : formatAge(overview.now - overview.outbox.oldestPendingAt, locale)}
                </span>
              </li>
            </ul>
            <h2>{t("overview.byChannel")}</h2>
            {overview.rows.length === 0 ? (
              <p>{t("common.none")}</p>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("common.channel")}</th>
                      <th scope="col">{t("common.behavior")}</th>
                      {instanceStatuses.map((status) => (
                        <th scope="col" key={status} class="num">
                          {t(`status.${status}`)}
                        </th>
                      ))}
                      <th scope="col" class="num">
                        {t("overview.total")}
                      </th>
                      <th scope="col" class="num">
                        {t("overview.settledLastHour")}
                      </th>
                      <th scope="col" class="num">
                        {t("overview.failureRate")}
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {overview.rows.map((row) => (
                      <tr key={`${row.channel}/${row.behavior}`}>
                        <th scope="row">{row.channel}</th>
                        <td>{row.behavior}</td>
                        {instanceStatuses.map((status: InstanceStatus) => (
                          <td key={status} class="num">
                            {(row.byStatus[status] ?? 0) > 0 ? (
                              <a
                                href={href(["instances"], {
                                  channel: row.channel,
                                  behavior: row.behavior,
                                  status,
                                })}
                              >
                                {row.byStatus[status]}
                              </a>
                            ) : (
                              0
                            )}
                          </td>
                        ))}
                        <td class="num">{row.total}</td>
                        <td class="num">{row.settledLastHour}</td>
                        <td class="num">{formatRate(row.failureRate)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <PartnerHealth overview={overview} />
          </>
        )}
      </LoadedView>
    </section>
  );
}
