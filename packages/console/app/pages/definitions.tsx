import { useState } from "preact/hooks";
import type { VersionDiff } from "../api/types.ts";
import { BehaviorGraph } from "../components/behavior-graph.tsx";
import { LoadedView } from "../components/loaded-view.tsx";
import { useI18n } from "../i18n/i18n.ts";
import { href, type Route } from "../router.ts";
import { useSession } from "../session.ts";
import { useLoad } from "../use-load.ts";

/** Channels, behaviors and their versions, each graph drawn, two versions compared. */
export function DefinitionsPage(props: { route: Route }) {
  const { t } = useI18n();
  const { client } = useSession();
  const [loaded] = useLoad(() => client.definitions(), "definitions");
  const selected = props.route.query.get("show");
  return (
    <section aria-labelledby="definitions-title">
      <h1 id="definitions-title">{t("definitions.title")}</h1>
      <LoadedView loaded={loaded}>
        {(listing) => {
          return (
            <>
              <h2>{t("definitions.channels")}</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("common.channel")}</th>
                    <th scope="col">{t("definitions.timeZone")}</th>
                  </tr>
                </thead>
                <tbody>
                  {listing.channels.map((channel) => (
                    <tr key={channel.code}>
                      <th scope="row">{channel.code}</th>
                      <td>{channel.timeZone}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <h2>{t("definitions.behaviors")}</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("common.channel")}</th>
                    <th scope="col">{t("common.behavior")}</th>
                    <th scope="col">{t("common.version")}</th>
                    <th scope="col" class="num">
                      {t("definitions.steps")}
                    </th>
                    <th scope="col" class="num">
                      {t("definitions.pinned")}
                    </th>
                    <th scope="col">
                      <span class="visually-hidden">{t("definitions.show")}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {listing.behaviors.flatMap((behavior) =>
                    behavior.versions.map((version) => {
                      const id = `${behavior.channel}/${behavior.code}/${version.version}`;
                      return (
                        <tr key={id}>
                          <th scope="row">{behavior.channel}</th>
                          <td>{behavior.code}</td>
                          <td>
                            v{version.version}
                            {version.active ? (
                              <span class="badge badge-active">{t("definitions.active")}</span>
                            ) : null}
                          </td>
                          <td class="num">{version.steps}</td>
                          <td class="num">{version.pinned}</td>
                          <td>
                            <a
                              href={href(["definitions"], { show: id })}
                              aria-current={selected === id ? "true" : undefined}
                            >
                              {t("definitions.show")}
                            </a>
                          </td>
                        </tr>
                      );
                    }),
                  )}
                </tbody>
              </table>
              {selected ? (
                <SelectedBehavior id={selected} versions={versionsOf(listing, selected)} />
              ) : null}
            </>
          );
        }}
      </LoadedView>
    </section>
  );
}

function versionsOf(
  listing: { behaviors: { channel: string; code: string; versions: { version: number }[] }[] },
  id: string,
): number[] {
  const [channel, code] = id.split("/");
  return (
    listing.behaviors
      .find((b) => b.channel === channel && b.code === code)
      ?.versions.map((v) => v.version) ?? []
  );
}

function SelectedBehavior(props: { id: string; versions: number[] }) {
  const { t } = useI18n();
  const { client } = useSession();
  const [channel = "", behavior = "", versionText = "1"] = props.id.split("/");
  const version = Number(versionText);
  const [graph] = useLoad(() => client.graph(channel, behavior, version), props.id);
  const [from, setFrom] = useState(props.versions.at(-1) ?? version);
  const [to, setTo] = useState(version);
  const [diff, setDiff] = useState<VersionDiff | null>(null);
  const compare = async (event: Event) => {
    event.preventDefault();
    setDiff(await client.diff(channel, behavior, from, to));
  };
  const versionSelect = (id: string, label: string, value: number, set: (n: number) => void) => (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={String(value)}
        onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}
      >
        {props.versions.map((v) => (
          <option key={v} value={String(v)}>
            v{v}
          </option>
        ))}
      </select>
    </div>
  );
  return (
    <section aria-labelledby="selected-title">
      <h2 id="selected-title">
        {channel}/{behavior} v{version}
      </h2>
      <LoadedView loaded={graph}>
        {(value) => <BehaviorGraph graph={value} label={`${channel}/${behavior} v${version}`} />}
      </LoadedView>
      <h3>{t("definitions.diff")}</h3>
      <form class="filters" onSubmit={compare}>
        {versionSelect("diff-from", t("definitions.diffFrom"), from, setFrom)}
        {versionSelect("diff-to", t("definitions.diffTo"), to, setTo)}
        <div class="buttons">
          <button type="submit">{t("definitions.diffRun")}</button>
        </div>
      </form>
      {diff ? (
        diff.added.length + diff.removed.length + diff.changed.length === 0 ? (
          <p role="status">{t("definitions.diff.same")}</p>
        ) : (
          <ul class="diff" role="status">
            {diff.added.map((s) => (
              <li key={`a-${s}`} class="added">
                + {s} ({t("definitions.diff.added")})
              </li>
            ))}
            {diff.removed.map((s) => (
              <li key={`r-${s}`} class="removed">
                − {s} ({t("definitions.diff.removed")})
              </li>
            ))}
            {diff.fields.map((f) => (
              <li key={`f-${f}`} class="changed field">
                · {f}
              </li>
            ))}
            {diff.changed.map((s) => (
              <li key={`c-${s}`} class="changed">
                ~ {s} ({t("definitions.diff.changed")})
              </li>
            ))}
          </ul>
        )
      ) : null}
    </section>
  );
}
