import { useEffect, useRef, useState } from "preact/hooks";
import type { IssuedToken } from "../api/types.ts";
import { copyToClipboard } from "../clipboard.ts";
import { useI18n } from "../i18n/i18n.ts";

/**
 * A token just made, shown this once: the server keeps only its digest, so once this panel is
 * hidden (or the page left) nobody can show it again. The secret lives in this panel's props only,
 * never in storage or the address.
 */
export function NewTokenSecret(props: { issued: IssuedToken; onDone: () => void }) {
  const { t } = useI18n();
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<boolean | null>(null);
  useEffect(() => {
    setCopied(null);
    field.current?.focus();
    field.current?.select();
  }, [props.issued]);
  const { name, role } = props.issued.token;
  return (
    <section class="new-secret" aria-labelledby="new-secret-title">
      <h2 id="new-secret-title">{t("tokens.secret.title", { name, role })}</h2>
      <p id="new-secret-warning" class="secret-warning">
        {t("tokens.secret.warning")}
      </p>
      <label for="new-secret">{t("tokens.secret.label")}</label>
      <div class="buttons">
        <input
          id="new-secret"
          ref={field}
          readOnly
          aria-describedby="new-secret-warning"
          autoComplete="off"
          spellcheck={false}
          value={props.issued.secret}
          onFocus={(event) => (event.target as HTMLInputElement).select()}
        />
        <button
          type="button"
          onClick={async () => setCopied(await copyToClipboard(props.issued.secret, field.current))}
        >
          {t("tokens.secret.copy")}
        </button>
      </div>
      {copied === null ? null : (
        <p role="status" class={copied ? "ok" : "error"}>
          {t(copied ? "tokens.secret.copied" : "tokens.secret.copyFailed")}
        </p>
      )}
      <button type="button" class="primary secret-done" onClick={props.onDone}>
        {t("tokens.secret.done")}
      </button>
    </section>
  );
}
