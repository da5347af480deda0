import { useEffect, useState } from "preact/hooks";
import type { ActionKind, ActionPreview, InstanceSummary } from "../api/types.ts";
import { formatDateTime } from "../format.ts";
import { useI18n } from "../i18n/i18n.ts";
import { canAct, useSession } from "../session.ts";

/**
 * Retry, move or cancel, in two stages: with a reason, ask the server what will happen (the same
 * rules the action runs), show it, and only then do it. Viewers see why they cannot act. A move
 * refused because it would send again a call whose outcome is unknown offers the operator to
 * confirm that the funder did not process it (`callNotProcessed`): the preview is asked again as
 * the move would be sent, and only then may it be done. A preview, and above all that confirmation,
 * holds for the instance and version it was asked for only: it is forgotten when either changes, and
 * an action is never sent for another. The instance page keys the panel by instance id as well.
 */
export function ActionPanel(props: {
  instance: InstanceSummary;
  moveTargets: string[];
  onDone: () => void;
}) {
  const { t, locale } = useI18n();
  const { client, operator } = useSession();
  const [action, setAction] = useState<ActionKind>("retry");
  const [step, setStep] = useState(props.moveTargets[0] ?? "");
  const [reason, setReason] = useState("");
  const [preview, setPreview] = useState<ActionPreview | null>(null);
  const [previewedId, setPreviewedId] = useState<string | null>(null);
  const [notProcessed, setNotProcessed] = useState(false);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setPreview(null);
    setPreviewedId(null);
    setNotProcessed(false);
  }, [props.instance.id, props.instance.version]);

  if (!canAct(operator)) {
    return (
      <section aria-labelledby="actions-title" class="actions">
        <h2 id="actions-title">{t("actions.title")}</h2>
        <p>{t("actions.viewerOnly", { role: operator.role })}</p>
      </section>
    );
  }

  const reset = () => {
    setPreview(null);
    setPreviewedId(null);
    setNotProcessed(false);
    setMessage(null);
  };
  const loadPreview = async (callNotProcessed: boolean) => {
    setBusy(true);
    setMessage(null);
    const instanceId = props.instance.id;
    try {
      setPreview(
        await client.preview(
          instanceId,
          action,
          action === "move" ? step : undefined,
          callNotProcessed,
        ),
      );
      setPreviewedId(instanceId);
    } catch (error) {
      setMessage({
        kind: "error",
        text: t("actions.failed", { message: (error as Error).message }),
      });
    } finally {
      setBusy(false);
    }
  };
  const showPreview = async (event: Event) => {
    event.preventDefault();
    if (reason.trim() === "") {
      setMessage({ kind: "error", text: t("actions.reasonRequired") });
      return;
    }
    setNotProcessed(false);
    await loadPreview(false);
  };
  const vouchNotProcessed = async (checked: boolean) => {
    setNotProcessed(checked);
    await loadPreview(checked);
  };
  const confirm = async () => {
    if (!preview) return;
    if (previewedId !== props.instance.id || preview.version !== props.instance.version) {
      setPreview(null);
      setPreviewedId(null);
      setNotProcessed(false);
      setMessage({ kind: "error", text: t("actions.stalePreview") });
      return;
    }
    setBusy(true);
    try {
      await client.act(
        props.instance.id,
        action,
        reason.trim(),
        preview.version,
        action === "move" ? step : undefined,
        notProcessed,
      );
      setPreview(null);
      setPreviewedId(null);
      setNotProcessed(false);
      setReason("");
      setMessage({ kind: "ok", text: t("actions.done") });
      props.onDone();
    } catch (error) {
      setMessage({
        kind: "error",
        text: t("actions.failed", { message: (error as Error).message }),
      });
    } finally {
      setBusy(false);
    }
  };
  const status = (s: string) => t(`status.${s}` as "status.active");

  return (
    <section aria-labelledby="actions-title" class="actions">
      <h2 id="actions-title">{t("actions.title")}</h2>
      <form onSubmit={showPreview}>
        <fieldset disabled={busy || preview !== null}>
          <legend class="visually-hidden">{t("actions.title")}</legend>
          <div class="radio-row" role="radiogroup">
            {(["retry", "move", "cancel"] as const).map((kind) => (
              <label key={kind}>
                <input
                  type="radio"
                  name="action"
                  value={kind}
                  checked={action === kind}
                  onChange={() => {
                    setAction(kind);
                    reset();
                  }}
                />
                {t(`actions.${kind}`)}
              </label>
            ))}
          </div>
          {action === "move" ? (
            <div class="field">
              <label for="move-step">{t("actions.targetStep")}</label>
              <select
                id="move-step"
                value={step}
                onChange={(event) => setStep((event.target as HTMLSelectElement).value)}
              >
                {props.moveTargets.map((target) => (
                  <option key={target} value={target}>
                    {target}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <div class="field">
            <label for="reason">{t("actions.reason")}</label>
            <textarea
              id="reason"
              required
              rows={2}
              value={reason}
              onInput={(event) => setReason((event.target as HTMLTextAreaElement).value)}
            />
          </div>
          <button type="submit">{t("actions.preview")}</button>
        </fieldset>
      </form>
      {preview ? (
        <section class="preview" aria-labelledby="preview-title">
          <h3 id="preview-title">{t("actions.preview")}</h3>
          <ul>
            <li>
              {t("preview.from", { step: preview.from.step, status: status(preview.from.status) })}
            </li>
            <li>{t("preview.to", { step: preview.to.step, status: status(preview.to.status) })}</li>
            <li>
              {t("preview.nextRun", {
                when:
                  preview.nextRunAt === null
                    ? t("preview.never")
                    : formatDateTime(preview.nextRunAt, props.instance.timeZone, locale),
              })}
            </li>
            {preview.clears.length > 0 ? (
              <li>{t("preview.clears", { what: preview.clears.join(", ") })}</li>
            ) : null}
            {preview.quota ? <li>{t("preview.quota", { state: preview.quota })}</li> : null}
            {preview.warnings.map((warning) => (
              <li key={warning} class="warning">
                {t("preview.warning", { text: warning })}
              </li>
            ))}
          </ul>
          {action === "move" &&
          (notProcessed || preview.refusal?.code === "INSTANCE_CALL_IN_FLIGHT") ? (
            <label class="confirm-not-processed">
              <input
                type="checkbox"
                checked={notProcessed}
                disabled={busy}
                onChange={(event) => vouchNotProcessed((event.target as HTMLInputElement).checked)}
              />
              {t("actions.callNotProcessed")}
            </label>
          ) : null}
          <div class="buttons">
            <button
              type="button"
              class="primary"
              disabled={busy || !preview.allowed}
              onClick={confirm}
            >
              {t("actions.confirm")}
            </button>
            <button type="button" disabled={busy} onClick={reset}>
              {t("actions.back")}
            </button>
          </div>
        </section>
      ) : null}
      {message ? (
        <p role={message.kind === "error" ? "alert" : "status"} class={message.kind}>
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
