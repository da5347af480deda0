import type { Duration, SecretRef } from "../../definition/types.ts";
import type { AlertSeverity } from "../../ports/alert-store.ts";

/**
 * Alert rules and where alerts go, as configuration (a JSON file or an object). Every rule has a
 * unique `name`; alerts are deduplicated per rule and subject, re-sent while firing at most every
 * `repeatEvery`, and resolved when the condition clears.
 */
export interface AlertsConfig {
  rules: AlertRule[];
  sinks: AlertSink[];
}

interface RuleBase {
  name: string;
  /** Default `warning`. */
  severity?: AlertSeverity;
  /** Sink names; default every sink. */
  sinks?: string[];
  /** While firing, notify again after this long. Default `4h`. */
  repeatEvery?: Duration;
}

export type AlertRule =
  | (RuleBase & {
      /** Failed calls and polls over all of them, per channel and interface (repayment failures). */
      kind: "failure-rate";
      channel?: string;
      interface?: string;
      /** The window rates are measured over, e.g. `5m`. */
      window: Duration;
      /** Fires above this share (0 < x < 1). */
      above: number;
      /** Calls needed in the window before the rate counts. Default 10. */
      minimumCalls?: number;
    })
  | (RuleBase & {
      /**
       * An interface's circuit breaker open (or probing) on any node, per channel and interface;
       * resolved when no node holds it. Over every node with `AlertMonitorOptions.breakers`.
       */
      kind: "breaker-open";
      channel?: string;
    })
  | (RuleBase & {
      /**
       * An interface's limiter (its `concurrency` or `rate`) refused calls in every minute of
       * `for`: the funder gets all it may take and work queues up behind it. Resolved after
       * `clearAfter` (default `2m`) without a refusal.
       */
      kind: "limiter-saturated";
      channel?: string;
      interface?: string;
      /** How long the limiter must refuse, minute after minute, e.g. `5m`. */
      for: Duration;
      clearAfter?: Duration;
    })
  | (RuleBase & {
      /** Refused notifications (forged, replayed, not matching) over all of them, per channel. */
      kind: "callbacks-refused";
      channel?: string;
      /** The window the share is measured over, e.g. `10m`. */
      window: Duration;
      /** Fires above this share (0 < x < 1). */
      above: number;
      /** Notifications needed in the window before the share counts. Default 10. */
      minimumCallbacks?: number;
    })
  | (RuleBase & {
      /** Stuck instances (卡单) per channel above a count. */
      kind: "stuck";
      channel?: string;
      above: number;
    })
  | (RuleBase & {
      /** Keys and certificates expiring within `withinDays` (or expired). */
      kind: "certificate-expiry";
      withinDays: number;
    })
  | (RuleBase & {
      /** Upstream notifications given up after their retries, above a count. */
      kind: "outbox-failing";
      above: number;
    })
  | (RuleBase & {
      /**
       * Statements whose latest run of a business date left differences unresolved, one alert per
       * statement, date and file (conditions from `AlertMonitorOptions.reconciliation`).
       */
      kind: "reconciliation";
      channel?: string;
    })
  | (RuleBase & {
      /** Raised by another part (queued starts expired): resolved after `clearAfter` without a new one. */
      kind: "raised";
      clearAfter?: Duration;
    });

export type AlertSink =
  | (SinkBase & {
      /** A JSON POST signed with HMAC-SHA256 (`x-capflow-signature`). */
      kind: "webhook";
    })
  | (SinkBase & {
      /** A DingTalk group robot: `https://oapi.dingtalk.com/robot/send?access_token=…`; `secret` for 加签. */
      kind: "dingtalk";
    })
  | (SinkBase & {
      /** A WeCom (企业微信) group robot: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`. */
      kind: "wecom";
    })
  | (SinkBase & {
      /** A Feishu / Lark custom bot: `https://open.feishu.cn/open-apis/bot/v2/hook/…`; `secret` for 签名校验. */
      kind: "feishu";
    });

interface SinkBase {
  name: string;
  url: string;
  /** The signing secret (`env:NAME`, `file:path`); required for `webhook`. */
  secret?: SecretRef;
  /** Messages per minute at most; more are recorded as suppressed. Default 20 (DingTalk's limit). */
  maxPerMinute?: number;
}
