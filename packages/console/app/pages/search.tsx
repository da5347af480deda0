import { useEffect, useState } from "preact/hooks";
import type { SearchQuery } from "../api/client.ts";
import { instanceStatuses } from "../api/types.ts";
import { LoadedView } from "../components/loaded-view.tsx";
import { StatusBadge } from "../components/status.tsx";
import { formatAge, formatDateTime } from "../format.ts";
import { useI18n } from "../i18n/i18n.ts";
import { maskText } from "../mask.ts";
import { href, navigate, type Route } from "../router.ts";
import { useSession } from "../session.ts";
import { useLoad } from "../use-load.ts";

const fields = [
  "businessKey",
  "channel",
  "behavior",
  "status",
  "step",
  "olderThanMinutes",
] as const;

function queryOf(route: Route): SearchQuery {
  const query: SearchQuery = {};
  for (const name of [...fields, "after"] as const) {
    const value = route.query.get(name);
    if (value) query[name] = value;
  }
  return query;
}

/**
 * Instances by business key, channel, behavior, status, step and age, newest change first, a page
 * at a time (keyset paging: the next page starts after the last row, as fast on page 1,000 as on 1).
 */
export function SearchPage(props: { route: Route }) {
  const { t, locale } = useI18n();
  const { client } = useSession();
  const query = queryOf(props.route);
  const key = JSON.stringify(query);
  const [form, setForm] = useState<SearchQuery>(query);
  useEffect(() => setForm(queryOf(props.route)), [key]);
  const [loaded] = useLoad(() => client.search(query), key);
  const submit = (event: Event) => {
    event.preventDefault();
    const { after: _after, ...rest } = form;
    navigate(href(["instances"], rest as Record<string, string>));
  };
  const input = (name: (typeof fields)[number], label: string, numeric = false) => (
    <div class="field">
      <label for={`f-${name}`}>{label}</label>
      <input
        id={`f-${name}`}
        name={name}
        type="text"
        inputMode={numeric ? "numeric" : "text"}
        value={form[name] ?? ""}
        onInput={(event) => setForm({ ...form, [name]: (event.target as HTMLInputElement).value })}
      />
    </div>
  );
  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">{t("search.title")}</h1>
      <form class="filters" onSubmit={submit} aria-label={t("search.filters")}>
        {input("businessKey", t("common.businessKey"))}
        {input("channel", t("common.channel"))}
        {input("behavior", t("common.behavior"))}
        <div class="field">
          <label for="f-status">{t("common.status")}</label>
          <select
            id="f-status"
            name="status"
            value={form.status ?? ""}
            onChange={(event) =>
              setForm({ ...form, status: (event.target as HTMLSelectElement).value })
            }
          >
            <option value="">{t("common.all")}</option>
            <option value="unsettled">
              {t("status.active")} + {t("status.waiting")}
            </option>
            <option value="parked">{t("search.parked")}</option>
            {instanceStatuses.map((status) => (
              <option key={status} value={status}>
                {t(`status.${status}`)}
              </option>
            ))}
          </select>
        </div>
        {input("step", t("common.step"))}
        {input("olderThanMinutes", t("search.olderThan"), true)}
        <div class="buttons">
          <button type="submit">{t("search.submit")}</button>
          <a href={href(["instances"])}>{t("search.reset")}</a>
        </div>
      </form>
      <h2 id="results-title">{t("search.results")}</h2>
      <LoadedView loaded={loaded}>
        {(page) =>
          page.instances.length === 0 ? (
            <p>{t("common.none")}</p>
          ) : (
            <>
              <div class="table-wrap">
                <table aria-labelledby="results-title">
                  <thead>
                    <tr>
                      <th scope="col">{t("common.businessKey")}</th>
                      <th scope="col">{t("common.channel")}</th>
                      <th scope="col">{t("common.behavior")}</th>
                      <th scope="col">{t("common.step")}</th>
                      <th scope="col">{t("common.status")}</th>
                      <th scope="col">{t("common.updated")}</th>
                      <th scope="col">{t("common.age")}</th>
                      <th scope="col">{t("common.error.column")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.instances.map((instance) => (
                      <tr key={instance.id}>
                        <th scope="row">
                          <a href={href(["instances", instance.id])}>
                            {maskText(instance.businessKey)}
                          </a>
                        </th>
                        <td>{instance.channel}</td>
                        <td>
                          {instance.behavior} v{instance.behaviorVersion}
                        </td>
                        <td>{instance.step}</td>
                        <td>
                          <StatusBadge status={instance.status} parked={instance.parked} />
                        </td>
                        <td>{formatDateTime(instance.updatedAt, instance.timeZone, locale)}</td>
                        <td>{formatAge(Date.now() - instance.createdAt, locale)}</td>
                        <td>{instance.lastError ? maskText(instance.lastError.code) : ""}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <nav class="pager" aria-label={t("search.results")}>
                {query.after ? (
                  <a href={href(["instances"], { ...query, after: undefined })}>
                    {t("search.first")}
                  </a>
                ) : null}
                {page.next ? (
                  <a href={href(["instances"], { ...query, after: page.next })} rel="next">
                    {t("search.next")}
                  </a>
                ) : null}
              </nav>
            </>
          )
        }
      </LoadedView>
    </section>
  );
}
