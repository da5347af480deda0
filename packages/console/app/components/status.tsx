import type { InstanceStatus } from "../api/types.ts";
import { useI18n } from "../i18n/i18n.ts";

export function StatusBadge({ status, parked }: { status: InstanceStatus; parked?: boolean }) {
  const { t } = useI18n();
  return (
    <span class={`badge badge-${status}`}>
      {t(`status.${status}`)}
      {parked ? <span class="badge badge-parked">{t("search.parked")}</span> : null}
    </span>
  );
}
