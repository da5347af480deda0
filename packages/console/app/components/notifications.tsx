import { useState } from "preact/hooks";
import type { NotificationRow } from "../api/types.ts";
import { useI18n } from "../i18n/i18n.ts";
import { maskText } from "../mask.ts";
import { canAct, useSession } from "../session.ts";

/**
 * The notifications an instance caused for the upstream, with their delivery and their last
 * re-send (who, when, why); operators may deliver one again (same event id, so the receiver
 * deduplicates), with a reason. A notification still waiting for its first attempt is due
 * already: the server re-sends nothing, and the page says so rather than "done".
 */
export function NotificationsSection(props: {
  notifications: NotificationRow[];
  when: (ms: number | null) => string;
  onDone: () => void;
}) {
  const { t } = useI18n();
  const { client, operator } = useSession();
  const [resending, setResending] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const resend = async (event: Event) => {
    event.preventDefault();
    if (!resending) return;
    try {
      const answer = await client.resendNotification(resending, reason.trim());
      setResending(null);
      setReason("");
      setMessage({
        kind: "ok",
        text:
          answer.outcome === "awaitingFirstAttempt"
            ? t("notifications.awaitingFirstAttempt")
            : t("notifications.resentDone"),
      });
      props.onDone();
    } catch (error) {
      setMessage({
        kind: "error",
        text: t("actions.failed", { message: (error as Error).message }),
      });
    }
  };
  return (
    <section aria-labelledby="notifications-title">
      <h2 id="notifications-title">{t("instance.notifications")}</h2>
      {props.notifications.length === 0 ? (
        <p>{t("common.none")}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("timeline.event")}</th>
              <th scope="col">{t("common.status")}</th>
              <th scope="col">{t("notifications.attempts")}</th>
              <th scope="col">{t("common.created")}</th>
              <th scope="col">{t("notifications.delivered")}</th>
              <th scope="col">{t("common.error.column")}</th>
              <th scope="col">{t("notifications.resent")}</th>
              {canAct(operator) ? (
                <th scope="col">
                  <span class="visually-hidden">{t("actions.title")}</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {props.notifications.map((n) => (
              <tr key={n.id}>
                <th scope="row">{n.type}</th>
                <td>{n.status}</td>
                <td class="num">{n.attempts}</td>
                <td>{props.when(n.createdAt)}</td>
                <td>{props.when(n.deliveredAt)}</td>
                <td>
                  {n.lastError ? `${n.lastError.code}: ${maskText(n.lastError.message)}` : ""}
                </td>
                <td>
                  {n.resent
                    ? t("notifications.resentBy", {
                        who: n.resent.by,
                        when: props.when(n.resent.at),
                        why: maskText(n.resent.why ?? "-"),
                      })
                    : ""}
                </td>
                {canAct(operator) ? (
                  <td>
                    <button
                      type="button"
                      onClick={() => {
                        setResending(n.id);
                        setMessage(null);
                      }}
                    >
                      {t("notifications.resend")}
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {resending ? (
        <form class="filters" onSubmit={resend}>
          <p>{t("notifications.resendPreview")}</p>
          <div class="field">
            <label for="resend-reason">{t("notifications.reason")}</label>
            <input
              id="resend-reason"
              required
              minLength={3}
              value={reason}
              onInput={(event) => setReason((event.target as HTMLInputElement).value)}
            />
          </div>
          <div class="buttons">
            <button type="submit">{t("actions.confirm")}</button>
            <button type="button" class="secondary" onClick={() => setResending(null)}>
              {t("actions.back")}
            </button>
          </div>
        </form>
      ) : null}
      {message ? (
        <p role={message.kind === "error" ? "alert" : "status"} class={message.kind}>
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
