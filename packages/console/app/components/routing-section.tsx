import type { InstanceRouting } from "../api/types.ts";
import { formatAmount } from "../format.ts";
import { en, type MessageKey } from "../i18n/en.ts";
import { type Translate, useI18n } from "../i18n/i18n.ts";
import { maskText } from "../mask.ts";
import { href } from "../router.ts";

/** A key built from a value the server sends; the value itself when a newer server sends more. */
function named(t: Translate, key: string, fallback: string): string {
  return key in en ? t(key as MessageKey) : fallback;
}

/** A link to another instance of the same business, named by its channel and status. */
function InstanceLink(props: { routing: InstanceRouting; id: string }) {
  const { t } = useI18n();
  const other = props.routing.business.find((instance) => instance.id === props.id);
  const text = other
    ? t("routing.instance", {
        channel: other.channel,
        status: named(t, `status.${other.status}`, other.status),
      })
    : props.id;
  return <a href={href(["instances", props.id])}>{text}</a>;
}

/**
 * How a product's business came to this instance: the product and the rule that chose, the
 * account, every channel considered and why each was passed over, the quotas it holds room in,
 * and the instances it failed over from and to. Reasons are masked like every other text shown.
 */
export function RoutingSection({ routing, id }: { routing: InstanceRouting; id: string }) {
  const { t } = useI18n();
  const { account } = routing;
  return (
    <section aria-labelledby="routing-title" class="routing">
      <h2 id="routing-title">{t("routing.title")}</h2>
      <dl class="summary">
        <dt>{t("routing.product")}</dt>
        <dd>{routing.product}</dd>
        <dt>{t("routing.rule")}</dt>
        <dd>{named(t, `routing.rule.${routing.rule}`, routing.rule)}</dd>
        {routing.amount !== null ? (
          <>
            <dt>{t("routing.amount")}</dt>
            <dd>{formatAmount(routing.amount)}</dd>
          </>
        ) : null}
        {account ? (
          <>
            <dt>{t("routing.account")}</dt>
            <dd>
              {t("routing.account.chosen", {
                account: account.code,
                rule: named(t, `routing.accountRule.${account.rule}`, account.rule),
              })}
              {account.skipped.map((skipped) => (
                <span key={skipped.account} class="detail">
                  {" · "}
                  {t("routing.account.skipped", {
                    account: skipped.account,
                    reason: maskText(skipped.reason),
                  })}
                </span>
              ))}
            </dd>
          </>
        ) : null}
        {routing.failoverOf ? (
          <>
            <dt>{t("routing.failoverOf")}</dt>
            <dd data-testid="failover-of">
              <InstanceLink routing={routing} id={routing.failoverOf} />
            </dd>
          </>
        ) : null}
        {routing.failedOverTo ? (
          <>
            <dt>{t("routing.failedOverTo")}</dt>
            <dd data-testid="failed-over-to">
              <InstanceLink routing={routing} id={routing.failedOverTo} />
            </dd>
          </>
        ) : null}
        {routing.business.length > 1 ? (
          <>
            <dt>{t("routing.business")}</dt>
            <dd>
              <ol class="business-chain">
                {routing.business.map((instance) => (
                  <li key={instance.id} aria-current={instance.id === id ? "page" : undefined}>
                    {instance.id === id ? (
                      t("routing.instance", {
                        channel: instance.channel,
                        status: named(t, `status.${instance.status}`, instance.status),
                      })
                    ) : (
                      <InstanceLink routing={routing} id={instance.id} />
                    )}
                  </li>
                ))}
              </ol>
            </dd>
          </>
        ) : null}
      </dl>
      <div class="table-wrap">
        <table>
          <caption>{t("routing.candidates")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("common.channel")}</th>
              <th scope="col">{t("common.behavior")}</th>
              <th scope="col" class="num">
                {t("routing.weight")}
              </th>
              <th scope="col">{t("routing.state")}</th>
              <th scope="col">{t("routing.reason")}</th>
            </tr>
          </thead>
          <tbody>
            {routing.candidates.map((candidate) => (
              <tr key={candidate.channel} class={`candidate candidate-${candidate.state}`}>
                <th scope="row">{candidate.channel}</th>
                <td>{candidate.behavior}</td>
                <td class="num">{candidate.weight}</td>
                <td>{named(t, `routing.state.${candidate.state}`, candidate.state)}</td>
                <td>{candidate.reason === null ? "" : maskText(candidate.reason)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {routing.quotas.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption>{t("routing.quotas")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("routing.quota.scope")}</th>
                <th scope="col">{t("routing.quota.period")}</th>
                <th scope="col" class="num">
                  {t("routing.quota.held")}
                </th>
                <th scope="col">{t("routing.quota.used")}</th>
              </tr>
            </thead>
            <tbody>
              {routing.quotas.map((quota) => (
                <tr key={`${quota.scope} ${quota.period}`}>
                  <th scope="row">{quota.scope}</th>
                  <td>{quota.period === "total" ? t("routing.quota.total") : quota.period}</td>
                  <td class="num">
                    {formatAmount(quota.amount)}
                    {quota.hold ? ` · ${named(t, `routing.hold.${quota.hold}`, quota.hold)}` : ""}
                  </td>
                  <td>
                    {[
                      quota.limitAmount !== null
                        ? t("routing.quota.usedOf", {
                            used: formatAmount(quota.usedAmount),
                            limit: formatAmount(quota.limitAmount),
                          })
                        : formatAmount(quota.usedAmount),
                      quota.limitCount !== null
                        ? t("routing.quota.startsOf", {
                            used: quota.usedCount,
                            limit: quota.limitCount,
                          })
                        : t("routing.quota.starts", { used: quota.usedCount }),
                    ].join(" · ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
