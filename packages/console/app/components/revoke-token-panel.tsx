import { useState } from "preact/hooks";
import type { TokenRow } from "../api/types.ts";
import { useI18n } from "../i18n/i18n.ts";
import { useSession } from "../session.ts";

/**
 * Revokes one token in two stages: a reason, then a confirmation that says what it does (refused
 * from the next request, not undone) before anything is sent. The server's refusal of the reason
 * is shown as sent, and nothing is revoked.
 */
export function RevokeTokenPanel(props: {
  token: TokenRow;
  onRevoked: (token: TokenRow) => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const { client, operator } = useSession();
  const [reason, setReason] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const { name, role } = props.token;
  const next = (event: Event) => {
    event.preventDefault();
    setRefusal(null);
    if (reason.trim() === "") {
      setRefusal(t("actions.reasonRequired"));
      return;
    }
    setConfirming(true);
  };
  const revoke = async () => {
    setBusy(true);
    try {
      props.onRevoked(await client.revokeToken(props.token.id, reason.trim()));
    } catch (error) {
      setRefusal(t("tokens.refused", { message: (error as Error).message }));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="actions" aria-labelledby="revoke-token-title">
      <h2 id="revoke-token-title">{t("tokens.revoke.title", { name, role })}</h2>
      <form onSubmit={next}>
        <fieldset disabled={busy || confirming}>
          <legend class="visually-hidden">{t("tokens.revoke.title", { name, role })}</legend>
          <div class="field">
            <label for="revoke-reason">{t("tokens.revoke.reason")}</label>
            <textarea
              id="revoke-reason"
              required
              rows={2}
              maxLength={500}
              value={reason}
              onInput={(event) => setReason((event.target as HTMLTextAreaElement).value)}
            />
          </div>
          <div class="buttons">
            <button type="submit">{t("tokens.revoke.next")}</button>
            <button type="button" onClick={props.onCancel}>
              {t("actions.back")}
            </button>
          </div>
        </fieldset>
      </form>
      {confirming ? (
        <section class="preview" aria-labelledby="revoke-confirm-title">
          <h3 id="revoke-confirm-title">{t("tokens.revoke.confirmTitle")}</h3>
          <p>{t("tokens.revoke.confirmText", { name, role, reason: reason.trim() })}</p>
          {operator.name === name ? (
            <p class="warning">{t("tokens.revoke.self", { name })}</p>
          ) : null}
          <div class="buttons">
            <button type="button" class="primary" disabled={busy} onClick={revoke}>
              {t("tokens.revoke.confirm")}
            </button>
            <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
              {t("actions.back")}
            </button>
          </div>
        </section>
      ) : null}
      {refusal === null ? null : (
        <p role="alert" class="error">
          {refusal}
        </p>
      )}
    </section>
  );
}
