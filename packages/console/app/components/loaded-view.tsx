import type { ComponentChildren } from "preact";
import { useI18n } from "../i18n/i18n.ts";
import type { Loaded } from "../use-load.ts";

/** The loading and failure states every page shares, announced to screen readers. */
export function LoadedView<T>(props: {
  loaded: Loaded<T>;
  children: (value: T) => ComponentChildren;
}) {
  const { t } = useI18n();
  if (props.loaded.state === "loading")
    return (
      <p role="status" aria-live="polite">
        {t("common.loading")}
      </p>
    );
  if (props.loaded.state === "failed")
    return (
      <p role="alert" class="error">
        {t("common.error", { message: props.loaded.message })}
      </p>
    );
  return <>{props.children(props.loaded.value)}</>;
}
