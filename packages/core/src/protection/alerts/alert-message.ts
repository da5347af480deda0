import { createHmac } from "node:crypto";
import type { AlertRecord } from "../../ports/alert-store.ts";
import type { AlertSink } from "./alert-config.ts";

/** One HTTP request to a sink, ready to send. */
export interface SinkRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What an alert says, in every sink's format. */
export function alertText(
  alert: AlertRecord,
  state: "firing" | "resolved",
): { title: string; text: string } {
  const mark = state === "resolved" ? "RESOLVED" : alert.severity.toUpperCase();
  const title = `[${mark}] ${alert.rule}: ${alert.subject}`;
  const lines = [
    `### ${title}`,
    alert.summary,
    `- fired: ${new Date(alert.firedAt).toISOString()}`,
    ...(state === "resolved" && alert.resolvedAt !== null
      ? [`- resolved: ${new Date(alert.resolvedAt).toISOString()}`]
      : []),
  ];
  return { title, text: lines.join("\n") };
}

/**
 * The request a sink expects, in its documented format:
 * - DingTalk robot: `{ msgtype: "markdown", markdown: { title, text } }`; with a secret, `timestamp`
 *   (ms) and `sign` = URL-encoded base64 HMAC-SHA256 of `timestamp + "\n" + secret` keyed by the
 *   secret, as query parameters.
 * - WeCom robot: `{ msgtype: "markdown", markdown: { content } }`.
 * - Feishu / Lark bot: `{ msg_type: "text", content: { text } }`; with a secret, `timestamp`
 *   (seconds, a string) and `sign` = base64 HMAC-SHA256 keyed by `timestamp + "\n" + secret` over
 *   nothing, in the body.
 * - webhook: the alert as JSON, `x-capflow-timestamp` (ms) and `x-capflow-signature: v1=<hex
 *   HMAC-SHA256 of timestamp + "." + body>`.
 */
export function sinkRequest(
  sink: AlertSink,
  alert: AlertRecord,
  state: "firing" | "resolved",
  secret: string | undefined,
  now: number,
): SinkRequest {
  const json = { "content-type": "application/json" };
  const { title, text } = alertText(alert, state);
  switch (sink.kind) {
    case "dingtalk": {
      let url = sink.url;
      if (secret !== undefined) {
        const sign = createHmac("sha256", secret).update(`${now}\n${secret}`).digest("base64");
        url += `${url.includes("?") ? "&" : "?"}timestamp=${now}&sign=${encodeURIComponent(sign)}`;
      }
      return {
        url,
        headers: json,
        body: JSON.stringify({ msgtype: "markdown", markdown: { title, text } }),
      };
    }
    case "wecom":
      return {
        url: sink.url,
        headers: json,
        body: JSON.stringify({ msgtype: "markdown", markdown: { content: text } }),
      };
    case "feishu": {
      const timestamp = String(Math.floor(now / 1000));
      const signed =
        secret === undefined
          ? {}
          : {
              timestamp,
              sign: createHmac("sha256", `${timestamp}\n${secret}`).update("").digest("base64"),
            };
      return {
        url: sink.url,
        headers: json,
        body: JSON.stringify({
          ...signed,
          msg_type: "text",
          content: { text: `${title}\n${alert.summary}` },
        }),
      };
    }
    case "webhook": {
      const body = JSON.stringify({
        type: state === "resolved" ? "alert.resolved" : "alert.firing",
        alert: {
          id: alert.id,
          rule: alert.rule,
          subject: alert.subject,
          severity: alert.severity,
          summary: alert.summary,
          details: alert.details,
          firedAt: new Date(alert.firedAt).toISOString(),
          resolvedAt: alert.resolvedAt === null ? null : new Date(alert.resolvedAt).toISOString(),
        },
      });
      const headers: Record<string, string> = { ...json, "x-capflow-timestamp": String(now) };
      if (secret !== undefined) {
        headers["x-capflow-signature"] =
          `v1=${createHmac("sha256", secret).update(`${now}.${body}`).digest("hex")}`;
      }
      return { url: sink.url, headers, body };
    }
  }
}

/**
 * Whether a robot's answer accepted the message: HTTP 2xx, and for the chat robots an `errcode`
 * (DingTalk, WeCom) or `code` (Feishu) of 0 when the answer carries one.
 */
export function sinkAccepted(status: number, body: string): { ok: boolean; detail?: string } {
  if (status < 200 || status >= 300) return { ok: false, detail: `HTTP ${status}` };
  try {
    const parsed = JSON.parse(body) as {
      errcode?: unknown;
      code?: unknown;
      errmsg?: unknown;
      msg?: unknown;
    };
    const code = parsed.errcode ?? parsed.code;
    if (code !== undefined && code !== 0) {
      return {
        ok: false,
        detail: `refused: ${String(code)} ${String(parsed.errmsg ?? parsed.msg ?? "")}`.trim(),
      };
    }
  } catch {
    // Not JSON: a plain 2xx is an acknowledgement.
  }
  return { ok: true };
}
