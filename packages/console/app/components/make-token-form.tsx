import { useState } from "preact/hooks";
import { type IssuedToken, type Role, tokenRoles } from "../api/types.ts";
import { useI18n } from "../i18n/i18n.ts";
import { useSession } from "../session.ts";

/**
 * Makes a token with a name, a role (the least one first) and a reason. The server judges the
 * reason (no control characters, nothing that looks like a token): its refusal is shown as sent.
 * While a new secret is shown and not confirmed copied, it makes nothing: the next would replace it.
 */
export function MakeTokenForm(props: {
  secretShown: boolean;
  onMade: (issued: IssuedToken) => void;
}) {
  const { t } = useI18n();
  const { client } = useSession();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setRefusal(null);
    try {
      const issued = await client.makeToken(name.trim(), role, reason.trim());
      setName("");
      setRole("viewer");
      setReason("");
      props.onMade(issued);
    } catch (error) {
      setRefusal((error as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="make-token-title">
      <h2 id="make-token-title">{t("tokens.make")}</h2>
      <form class="filters" onSubmit={submit}>
        <div class="field">
          <label for="token-name">{t("tokens.make.name")}</label>
          <input
            id="token-name"
            required
            maxLength={64}
            autoComplete="off"
            value={name}
            onInput={(event) => setName((event.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="token-role">{t("tokens.role")}</label>
          <select
            id="token-role"
            value={role}
            onChange={(event) => setRole((event.target as HTMLSelectElement).value as Role)}
          >
            {tokenRoles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <div class="field reason-field">
          <label for="token-reason">{t("tokens.make.reason")}</label>
          <textarea
            id="token-reason"
            required
            minLength={3}
            maxLength={500}
            rows={2}
            value={reason}
            onInput={(event) => setReason((event.target as HTMLTextAreaElement).value)}
          />
        </div>
        <button
          type="submit"
          disabled={busy || props.secretShown}
          aria-describedby={props.secretShown ? "make-token-locked" : undefined}
        >
          {t("tokens.make.submit")}
        </button>
      </form>
      {props.secretShown ? (
        <p id="make-token-locked" class="muted">
          {t("tokens.make.locked")}
        </p>
      ) : null}
      {refusal === null ? null : (
        <p role="alert" class="error">
          {t("tokens.refused", { message: refusal })}
        </p>
      )}
    </section>
  );
}
