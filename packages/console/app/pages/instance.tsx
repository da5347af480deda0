import type { HistoryEntry, HistoryRefusals, InstanceDetail } from "../api/types.ts";
import { ActionPanel } from "../components/action-panel.tsx";
import { BehaviorGraph, type GraphHighlight } from "../components/behavior-graph.tsx";
import { LoadedView } from "../components/loaded-view.tsx";
import { NotificationsSection } from "../components/notifications.tsx";
import { RoutingSection } from "../components/routing-section.tsx";
import { StatusBadge } from "../components/status.tsx";
import { formatDateTime } from "../format.ts";
import { en, type MessageKey } from "../i18n/en.ts";
import { useI18n } from "../i18n/i18n.ts";
import { maskedJson, maskText } from "../mask.ts";
import { useSession } from "../session.ts";
import { useLoad } from "../use-load.ts";

/** The steps and edges an instance went through, from its history. */
export function pathTaken(detail: InstanceDetail): GraphHighlight {
  const visited = new Set<string>([detail.graph.initial]);
  const taken = new Set<string>();
  for (const entry of detail.history) {
    visited.add(entry.step);
    if (
      entry.fromStep &&
      entry.toStep &&
      entry.fromStep !== entry.toStep &&
      entry.event !== "operator"
    ) {
      taken.add(`${entry.fromStep}->${entry.toStep}`);
      visited.add(entry.toStep);
    }
    if (entry.toStep) visited.add(entry.toStep);
  }
  return { current: detail.instance.step, visited, taken };
}

function move(entry: HistoryEntry): string {
  if (entry.fromStep && entry.toStep && entry.fromStep !== entry.toStep)
    return `${entry.fromStep} → ${entry.toStep}`;
  return entry.step;
}

/**
 * A run of flow-control refusals in words: how many, why, the last one's time, and whether the
 * instance is still refused (the entry then is the last and its count still grows).
 */
function RefusalsNote(props: { refusals: HistoryRefusals; last: string }) {
  const { t } = useI18n();
  const { count, reasons, ongoing } = props.refusals;
  const named = Object.entries(reasons);
  const why = named
    .map(([reason, n]) => {
      const key = `refusal.${reason}`;
      const name = key in en ? t(key as MessageKey) : reason;
      return named.length === 1 ? name : `${name} ×${n}`;
    })
    .join(", ");
  return (
    <p class={ongoing ? "refusals ongoing" : "refusals"}>
      {count === 1
        ? t("timeline.refusedOnce", { reasons: why, last: props.last })
        : t("timeline.refused", { count, reasons: why, last: props.last })}
      {ongoing ? <> {t("timeline.refusedOngoing")}</> : null}
    </p>
  );
}

export function InstancePage(props: { id: string }) {
  const { t, locale } = useI18n();
  const { client } = useSession();
  const [loaded, reload] = useLoad(() => client.instance(props.id), props.id);
  return (
    <LoadedView loaded={loaded}>
      {(detail) => {
        const { instance } = detail;
        const zone = instance.timeZone;
        const when = (ms: number | null | undefined) => formatDateTime(ms, zone, locale);
        return (
          <article aria-labelledby="instance-title">
            <h1 id="instance-title">
              {t("instance.title", { businessKey: maskText(instance.businessKey) })}
            </h1>
            <p class="muted">{t("instance.timeZone", { zone })}</p>
            <section aria-labelledby="summary-title">
              <h2 id="summary-title" class="visually-hidden">
                {t("instance.summary")}
              </h2>
              <dl class="summary">
                <dt>{t("common.channel")}</dt>
                <dd>{instance.channel}</dd>
                <dt>{t("common.behavior")}</dt>
                <dd>{instance.behavior}</dd>
                <dt>{t("instance.pinned")}</dt>
                <dd>v{instance.behaviorVersion}</dd>
                <dt>{t("common.step")}</dt>
                <dd data-testid="current-step">{instance.step}</dd>
                <dt>{t("common.status")}</dt>
                <dd>
                  <StatusBadge status={instance.status} parked={instance.parked} />
                </dd>
                <dt>{t("instance.attempt")}</dt>
                <dd>{instance.attempt}</dd>
                <dt>{t("instance.nextRun")}</dt>
                <dd>{when(instance.nextRunAt)}</dd>
                <dt>{t("common.created")}</dt>
                <dd>{when(instance.createdAt)}</dd>
                <dt>{t("common.updated")}</dt>
                <dd>{when(instance.updatedAt)}</dd>
                {instance.lastError ? (
                  <>
                    <dt>{t("instance.lastError")}</dt>
                    <dd class="error">
                      {instance.lastError.code}: {maskText(instance.lastError.message)}
                    </dd>
                  </>
                ) : null}
              </dl>
            </section>
            {detail.routing ? <RoutingSection routing={detail.routing} id={instance.id} /> : null}
            <ActionPanel
              key={instance.id}
              instance={instance}
              moveTargets={detail.moveTargets}
              onDone={reload}
            />
            <section aria-labelledby="graph-title">
              <h2 id="graph-title">{t("instance.graph")}</h2>
              <BehaviorGraph
                graph={detail.graph}
                highlight={pathTaken(detail)}
                label={`${instance.channel}/${instance.behavior} v${instance.behaviorVersion}`}
              />
            </section>
            <section aria-labelledby="timeline-title">
              <h2 id="timeline-title">{t("instance.timeline")}</h2>
              <ol class="timeline">
                {detail.history.map((entry) => (
                  <li key={entry.id} class={`entry event-${entry.event}`} data-event={entry.event}>
                    <div class="entry-head">
                      <time>{when(entry.startedAt)}</time>
                      <span class="event">{entry.event}</span>
                      <span class="move">{move(entry)}</span>
                      {entry.outcome ? <span class="outcome">{entry.outcome}</span> : null}
                      {entry.toStatus ? <span class="to-status">{entry.toStatus}</span> : null}
                      {entry.durationMs > 0 && !entry.refusals ? (
                        <span class="muted">{Math.round(entry.durationMs)} ms</span>
                      ) : null}
                    </div>
                    {entry.refusals ? (
                      <RefusalsNote refusals={entry.refusals} last={when(entry.refusals.lastAt)} />
                    ) : null}
                    {entry.actor ? (
                      <p class="actor">
                        {t("timeline.who")}: <strong>{entry.actor.who}</strong> —{" "}
                        {maskText(entry.actor.why)}
                        {entry.actor.confirmed === "callNotProcessed" ? (
                          <span class="confirmed"> ({t("timeline.callNotProcessed")})</span>
                        ) : null}
                      </p>
                    ) : null}
                    {entry.error ? (
                      <p class="error">
                        {entry.error.code}: {maskText(entry.error.message)}
                      </p>
                    ) : null}
                    {entry.request !== undefined || entry.response !== undefined ? (
                      <details>
                        <summary>{t("timeline.details")}</summary>
                        {entry.request !== undefined ? (
                          <>
                            <h3>{t("timeline.request")}</h3>
                            <pre>{maskedJson(entry.request)}</pre>
                          </>
                        ) : null}
                        {entry.response !== undefined ? (
                          <>
                            <h3>{t("timeline.response")}</h3>
                            <pre>{maskedJson(entry.response)}</pre>
                          </>
                        ) : null}
                      </details>
                    ) : null}
                  </li>
                ))}
              </ol>
            </section>
            <section aria-labelledby="inbox-title">
              <h2 id="inbox-title">{t("instance.inbox")}</h2>
              {detail.inbox.length === 0 ? (
                <p>{t("common.none")}</p>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("inbox.callback")}</th>
                      <th scope="col">{t("inbox.received")}</th>
                      <th scope="col">{t("inbox.processed")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {detail.inbox.map((entry) => (
                      <tr key={entry.id}>
                        <th scope="row">{entry.callback}</th>
                        <td>{when(entry.receivedAt)}</td>
                        <td>
                          {entry.processedAt === null
                            ? t("inbox.pending")
                            : when(entry.processedAt)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <NotificationsSection
              notifications={detail.notifications}
              when={when}
              onDone={reload}
            />
          </article>
        );
      }}
    </LoadedView>
  );
}
