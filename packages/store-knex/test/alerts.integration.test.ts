import { createHmac, createPublicKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AlertMonitor,
  type AlertRecord,
  type AlertsConfig,
  type ChannelDefinition,
  channelCertificateExpiry,
  createDefaultSecretResolver,
  type EngineEvent,
  ManualClock,
  MemoryDefinitionSource,
  sinkRequest,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { TestCertificateAuthority } from "@capflow/testkit";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import {
  KnexAlertStore,
  KnexDefinitionSource,
  KnexStuckStore,
  pushDefinitions,
} from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

interface Received {
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

const minute = 60_000;

const sampleAlert: AlertRecord = {
  id: "7f1c6a52-2f7e-4a43-9d5c-1b2f7f0e0a11",
  rule: "repayment-failures",
  subject: "lanbank/repay.apply",
  severity: "critical",
  status: "firing",
  summary: "12 of 20 calls to lanbank repay.apply failed in the last 5m (60%, above 20%)",
  details: {},
  firedAt: Date.UTC(2026, 11, 6, 2, 0, 0),
  resolvedAt: null,
  lastNotifiedAt: null,
};

/**
 * Known answers for the signatures, computed once outside capflow (Python's hmac, hashlib and
 * base64) for the secrets and the instant of the tests below, so a change to a formula fails here:
 *
 *   base64(hmac(b"SEC0123456789", b"1765000000123\nSEC0123456789", sha256))   DingTalk
 *   base64(hmac(b"1765000000\ndemo-secret", b"", sha256))                      Feishu / Lark
 *   hmac(b"whsec", b"1765000000123." + body, sha256).hexdigest()              webhook
 */
const knownAnswers = {
  dingtalkSign: "lizCp6/5UFPvmuwzMZDJki+JxCPIFCvTclB7gCxQn/M=",
  dingtalkSignInUrl: "lizCp6%2F5UFPvmuwzMZDJki%2BJxCPIFCvTclB7gCxQn%2FM%3D",
  feishuSign: "mdJh6kxQsfnfEb0CQR2zkEm1YGbaZu0Vg/fAB16k4hQ=",
  webhookBody:
    '{"type":"alert.firing","alert":{"id":"7f1c6a52-2f7e-4a43-9d5c-1b2f7f0e0a11","rule":"repayment-failures","subject":"lanbank/repay.apply","severity":"critical","summary":"12 of 20 calls to lanbank repay.apply failed in the last 5m (60%, above 20%)","details":{},"firedAt":"2026-12-06T02:00:00.000Z","resolvedAt":null}}',
  webhookSignature: "v1=a92268ab31b793831ffa9073712dbc2f8ae59f6110a080f4f63c8d9d72d3bd44",
};

describe("alert sinks speak each robot's documented format", () => {
  const now = 1_765_000_000_123;

  test("DingTalk: markdown message; 加签 as timestamp and sign query parameters", () => {
    const request = sinkRequest(
      {
        name: "ding",
        kind: "dingtalk",
        url: "https://oapi.dingtalk.com/robot/send?access_token=T0K",
      },
      sampleAlert,
      "firing",
      "SEC0123456789",
      now,
    );
    const url = new URL(request.url);
    expect(url.searchParams.get("access_token")).toBe("T0K");
    expect(url.searchParams.get("timestamp")).toBe(String(now));
    // sign = Base64(HmacSHA256(key = secret, timestamp + "\n" + secret)), URL-encoded once.
    expect(url.searchParams.get("sign")).toBe(knownAnswers.dingtalkSign);
    expect(request.url).toContain(`&sign=${knownAnswers.dingtalkSignInUrl}`);
    const body = JSON.parse(request.body);
    expect(Object.keys(body).sort()).toEqual(["markdown", "msgtype"]);
    expect(body.msgtype).toBe("markdown");
    expect(body.markdown).toEqual({
      title: "[CRITICAL] repayment-failures: lanbank/repay.apply",
      text: expect.stringContaining("12 of 20 calls"),
    });
  });

  test("WeCom: markdown with content", () => {
    const request = sinkRequest(
      {
        name: "wecom",
        kind: "wecom",
        url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
      },
      sampleAlert,
      "resolved",
      undefined,
      now,
    );
    expect(request.url).toBe("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K");
    const body = JSON.parse(request.body);
    expect(body).toEqual({ msgtype: "markdown", markdown: { content: expect.any(String) } });
    expect(body.markdown.content).toMatch(/^### \[RESOLVED\] repayment-failures/);
  });

  test("Feishu / Lark: text message; timestamp in seconds and sign in the body", () => {
    const request = sinkRequest(
      { name: "feishu", kind: "feishu", url: "https://open.feishu.cn/open-apis/bot/v2/hook/H" },
      sampleAlert,
      "firing",
      "demo-secret",
      now,
    );
    const body = JSON.parse(request.body);
    // sign = Base64(HmacSHA256(key = timestamp + "\n" + secret, message = empty)).
    expect(body).toEqual({
      timestamp: "1765000000",
      sign: knownAnswers.feishuSign,
      msg_type: "text",
      content: { text: expect.stringContaining("repayment-failures") },
    });
  });

  test("webhook: the alert as JSON, signed over timestamp and body", () => {
    const request = sinkRequest(
      { name: "ops", kind: "webhook", url: "https://ops.example/alerts" },
      sampleAlert,
      "firing",
      "whsec",
      now,
    );
    expect(request.headers["x-capflow-timestamp"]).toBe("1765000000123");
    expect(request.body).toBe(knownAnswers.webhookBody);
    expect(request.headers["x-capflow-signature"]).toBe(knownAnswers.webhookSignature);
    expect(JSON.parse(request.body)).toMatchObject({
      type: "alert.firing",
      alert: { rule: "repayment-failures", subject: "lanbank/repay.apply", severity: "critical" },
    });
  });
});

describe.skipIf(!databaseUrl)(databaseUrl ? "alerts on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let server: Server;
  let base: string;
  const received: Received[] = [];
  let answer = { status: 200, body: '{"errcode":0,"errmsg":"ok"}' };

  beforeAll(async () => {
    db = await openTestPostgres();
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk) => {
        text += chunk;
      });
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://robot.test");
        received.push({
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: JSON.parse(text),
        });
        res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await db.drop();
  });
  beforeEach(async () => {
    received.length = 0;
    answer = { status: 200, body: '{"errcode":0,"errmsg":"ok"}' };
    await db.knex.raw(
      `TRUNCATE "${db.schema}".alerts, "${db.schema}".alert_history, "${db.schema}".sla_breaches`,
    );
  });

  function monitor(config: AlertsConfig, clock = new ManualClock()) {
    const store = new KnexAlertStore(db);
    const alerts = new AlertMonitor({
      config,
      store,
      clock,
      stuck: new KnexStuckStore(db),
      secrets: createDefaultSecretResolver({ allowInline: true }),
    });
    return { alerts, store, clock };
  }

  const call = (failed: boolean): EngineEvent =>
    failed
      ? {
          type: "step.failed",
          instanceId: "i",
          step: "repay",
          errorClass: "notSent",
          code: "TRANSPORT_NOT_SENT",
          willRetry: true,
          channel: "lanbank",
          interface: "repay.apply",
        }
      : {
          type: "step.succeeded",
          instanceId: "i",
          step: "repay",
          to: "done",
          outcome: "succeeded",
          channel: "lanbank",
          interface: "repay.apply",
        };

  test("a failure rate above the rule fires once to DingTalk, repeats while firing, and resolves when it clears; history kept", async () => {
    const { alerts, store, clock } = monitor({
      rules: [
        {
          name: "repayment-failures",
          kind: "failure-rate",
          interface: "repay.apply",
          window: "5m",
          above: 0.2,
          severity: "critical",
          repeatEvery: "1h",
        },
      ],
      sinks: [
        {
          name: "ding",
          kind: "dingtalk",
          url: `${base}/robot/send?access_token=T`,
          secret: "inline:SEC",
        },
      ],
    });
    for (let i = 0; i < 20; i += 1) alerts.observe(call(i % 2 === 0));
    const first = await alerts.evaluate();
    expect(first.fired.map((a) => [a.rule, a.subject, a.severity])).toEqual([
      ["repayment-failures", "lanbank/repay.apply", "critical"],
    ]);
    expect(received).toHaveLength(1);
    expect(received[0]?.path).toBe("/robot/send");
    expect(received[0]?.query.get("sign")).toBe(
      createHmac("sha256", "SEC").update(`${clock.now()}\nSEC`).digest("base64"),
    );
    expect(received[0]?.body).toMatchObject({
      msgtype: "markdown",
      markdown: { title: "[CRITICAL] repayment-failures: lanbank/repay.apply" },
    });

    // Still failing a minute later: deduplicated, nothing sent.
    await clock.advance(minute);
    expect((await alerts.evaluate()).fired).toEqual([]);
    expect(received).toHaveLength(1);

    // An hour on, still firing (new failures keep the rate up): one reminder.
    await clock.advance(60 * minute);
    for (let i = 0; i < 20; i += 1) alerts.observe(call(true));
    expect((await alerts.evaluate()).notifications).toBe(1);
    expect(received).toHaveLength(2);

    // Healthy calls only: resolved, with a last message.
    await clock.advance(6 * minute);
    for (let i = 0; i < 20; i += 1) alerts.observe(call(false));
    const cleared = await alerts.evaluate();
    expect(cleared.resolved.map((a) => a.status)).toEqual(["resolved"]);
    expect(received).toHaveLength(3);
    expect(JSON.stringify(received[2]?.body)).toContain("RESOLVED");
    const [alert] = await store.listAlerts();
    expect((await store.alertHistory(alert!.id)).map((h) => h.event)).toEqual([
      "fired",
      "sent",
      "sent",
      "resolved",
      "sent",
    ]);
  });

  test("a channel certificate expiring within the rule's days fires; scheduling or pushing a renewed one resolves it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-cert-alerts-"));
    try {
      const authority = new TestCertificateAuthority("Lan Bank test CA");
      await writeFile(
        join(dir, "lanbank-ca.pem"),
        authority.issueClient("Lan Bank 2026", { validForDays: 30 }).cert,
      );
      await writeFile(
        join(dir, "lanbank-ca-renewed.pem"),
        authority.issueClient("Lan Bank 2027", { validForDays: 400 }).cert,
      );
      const channel = (extra: Partial<ChannelDefinition> = {}): ChannelDefinition => ({
        ...testChannel,
        tls: { ca: ["file:lanbank-ca.pem"] },
        ...extra,
      });
      const definitions = new MemoryDefinitionSource({
        channels: [channel()],
        behaviors: [loanBehavior()],
        baseDir: dir,
      });
      const clock = new ManualClock(Date.now());
      const alerts = new AlertMonitor({
        config: {
          rules: [{ name: "certificates", kind: "certificate-expiry", withinDays: 14 }],
          sinks: [{ name: "ops", kind: "webhook", url: `${base}/hooks`, secret: "inline:W" }],
        },
        store: new KnexAlertStore(db),
        clock,
        secrets: createDefaultSecretResolver({ allowInline: true }),
        certificates: channelCertificateExpiry({ definitions, clock }),
      });
      const day = 86_400_000;

      // 30 days left: beyond the rule's 14.
      expect((await alerts.evaluate()).fired).toEqual([]);
      await clock.advance(20 * day);
      const soon = await alerts.evaluate();
      expect(soon.fired.map((a) => [a.rule, a.subject])).toEqual([
        ["certificates", "lanbank /tls/ca/0"],
      ]);
      expect(soon.fired[0]?.summary).toMatch(
        /^the certificate CN=Lan Bank 2026 of lanbank in file:lanbank-ca\.pem expires on \S+, in 10 days/,
      );
      expect(received.map((r) => [r.path, r.body.type])).toEqual([["/hooks", "alert.firing"]]);
      // Once per alert however many evaluations see it.
      await clock.advance(minute);
      expect((await alerts.evaluate()).fired).toEqual([]);

      // The renewed certificate scheduled for five days from now, before the old one expires.
      definitions.putChannel(
        channel({
          future: [
            {
              effectiveFrom: new Date(clock.now() + 5 * day).toISOString(),
              values: { tls: { ca: ["file:lanbank-ca-renewed.pem"] } },
            },
          ],
        }),
        dir,
      );
      const scheduled = await alerts.evaluate();
      expect(scheduled.resolved.map((a) => a.subject)).toEqual(["lanbank /tls/ca/0"]);
      expect(received.map((r) => r.body.type)).toEqual(["alert.firing", "alert.resolved"]);

      // Without it, past its expiry: fires again, saying it expired; pushing the renewed one resolves it.
      definitions.putChannel(channel(), dir);
      await clock.advance(11 * day);
      const expired = await alerts.evaluate();
      expect(expired.fired[0]?.summary).toMatch(/CN=Lan Bank 2026 .* expired on /);
      definitions.putChannel(channel({ tls: { ca: ["file:lanbank-ca-renewed.pem"] } }), dir);
      expect((await alerts.evaluate()).resolved.map((a) => a.subject)).toEqual([
        "lanbank /tls/ca/0",
      ]);
      expect(await new KnexAlertStore(db).listAlerts({ status: "firing" })).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("every key capflow holds: a channel without behaviors and an upstream client's certificate fire; a bare key or a secret never does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-cert-alerts-clients-"));
    try {
      const authority = new TestCertificateAuthority("Test CA");
      const platform = authority.issueClient("Platform 2026", { validForDays: 10 });
      await writeFile(
        join(dir, "quiet-ca.pem"),
        authority.issueClient("Quiet Bank 2026", { validForDays: 10 }).cert,
      );
      await writeFile(join(dir, "platform.pem"), platform.cert);
      await writeFile(
        join(dir, "platform-renewed.pem"),
        authority.issueClient("Platform 2027", { validForDays: 400 }).cert,
      );
      // Billing's key is the bare public key: no notAfter to read.
      const bare = authority.issueClient("Billing 2026", { validForDays: 5 });
      await writeFile(
        join(dir, "billing.pem"),
        createPublicKey(bare.key).export({ type: "spki", format: "pem" }) as string,
      );
      const client = (id: string, signature: UpstreamClientDefinition["signature"]) => ({
        id,
        signature,
        allowedIps: ["10.0.0.0/8"],
        allow: { behaviors: ["lanbank/loan"] },
      });
      const platformClient = (ref: string) =>
        client("platform", { algorithm: "rsa-sha256", key: { ref } });
      // Stored through the database, as capflow serve and worker read them: the channel "quiet"
      // has no behavior at all.
      await pushDefinitions(db, {
        channels: [{ ...testChannel, code: "quiet", tls: { ca: ["file:quiet-ca.pem"] } }],
        clients: [
          platformClient("file:platform.pem"),
          client("billing", { algorithm: "rsa-sha256", key: { ref: "file:billing.pem" } }),
          // A shared secret never expires, whatever its bytes look like.
          client("ledger", { algorithm: "hmac-sha256", key: { ref: "file:platform.pem" } }),
          // Retired (allowed nothing): its key verifies no request, so its certificate is not in use.
          {
            ...client("legacy", { algorithm: "rsa-sha256", key: { ref: "file:platform.pem" } }),
            allow: {},
          },
        ],
      });
      const definitions = new KnexDefinitionSource(db.knex, {
        schema: db.schema,
        baseDir: dir,
        refreshMs: 0,
      });
      const clock = new ManualClock(Date.now());
      const alerts = new AlertMonitor({
        config: {
          rules: [{ name: "certificates", kind: "certificate-expiry", withinDays: 14 }],
          sinks: [{ name: "ops", kind: "webhook", url: `${base}/hooks`, secret: "inline:W" }],
        },
        store: new KnexAlertStore(db),
        clock,
        secrets: createDefaultSecretResolver({ allowInline: true }),
        certificates: channelCertificateExpiry({ definitions, clock }),
      });

      const round = await alerts.evaluate();
      expect(round.fired.map((a) => a.subject).sort()).toEqual([
        "client platform /signature/key/ref",
        "quiet /tls/ca/0",
      ]);
      expect(round.fired.find((a) => a.subject.startsWith("client"))?.summary).toMatch(
        /^the certificate CN=Platform 2026 of upstream client platform in file:platform\.pem expires on \S+, in 10 days: get the client's renewed certificate and push it in its client definition \(signature\.key\)/,
      );

      // The client's renewed certificate pushed: its alert resolves; the channel's stays.
      await pushDefinitions(db, { clients: [platformClient("file:platform-renewed.pem")] });
      const renewed = await alerts.evaluate();
      expect(renewed.resolved.map((a) => a.subject)).toEqual([
        "client platform /signature/key/ref",
      ]);
      expect(
        (await new KnexAlertStore(db).listAlerts({ status: "firing" })).map((a) => a.subject),
      ).toEqual(["quiet /tls/ca/0"]);

      // Past the old certificate's expiry, pushed back by mistake: it fires again, as expired.
      await clock.advance(11 * 86_400_000);
      await pushDefinitions(db, { clients: [platformClient("file:platform.pem")] });
      const expired = await alerts.evaluate();
      expect(expired.fired.map((a) => a.summary)).toEqual([
        expect.stringMatching(
          /^the certificate CN=Platform 2026 of upstream client platform in file:platform\.pem expired on /,
        ),
      ]);

      // Clients cannot be deleted: retiring one (pushed allowed nothing) resolves its alert.
      await pushDefinitions(db, {
        clients: [
          { ...platformClient("file:platform.pem"), allow: { behaviors: [], products: [] } },
        ],
      });
      const retired = await alerts.evaluate();
      expect(retired.resolved.map((a) => a.subject)).toEqual([
        "client platform /signature/key/ref",
      ]);
      expect(retired.fired).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("two nodes raising the same alert open it once; a breaker opening and closing fires and resolves", async () => {
    const config: AlertsConfig = {
      rules: [{ name: "breaker", kind: "breaker-open" }],
      sinks: [{ name: "wecom", kind: "wecom", url: `${base}/cgi-bin/webhook/send?key=K` }],
    };
    const clock = new ManualClock();
    const one = monitor(config, clock);
    const two = monitor(config, clock);
    one.alerts.observeFlow({ type: "breaker.open", channel: "meadow", interface: "loan.apply" });
    two.alerts.observeFlow({ type: "breaker.open", channel: "meadow", interface: "loan.apply" });
    await Promise.all([one.alerts.settled(), two.alerts.settled()]);
    expect(await one.store.listAlerts({ status: "firing" })).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(received[0]?.body).toEqual({
      msgtype: "markdown",
      markdown: { content: expect.stringContaining("meadow/loan.apply") },
    });
    one.alerts.observeFlow({ type: "breaker.closed", channel: "meadow", interface: "loan.apply" });
    await one.alerts.settled();
    expect(await one.store.listAlerts({ status: "firing" })).toEqual([]);
  });

  test("a raised alert clears clearAfter after any node's last raise, whichever node evaluates: no firing and resolving storm", async () => {
    const config: AlertsConfig = {
      rules: [{ name: "queued-starts-expired", kind: "raised", clearAfter: "1h" }],
      sinks: [{ name: "wecom", kind: "wecom", url: `${base}/cgi-bin/webhook/send?key=K` }],
    };
    const clock = new ManualClock(Date.parse("2026-03-10T01:00:00Z"));
    // The queue's node raises; another node evaluates the rules.
    const raising = monitor(config, clock);
    const evaluating = monitor(config, clock);
    for (let i = 0; i < 3; i += 1) {
      await raising.alerts.raise("queued-starts-expired", "lanbank/repay", `start ${i} expired`);
      await clock.advance(30_000);
      expect((await evaluating.alerts.evaluate()).resolved).toEqual([]);
    }
    const [open] = await evaluating.store.listAlerts({ status: "firing" });
    expect(open).toMatchObject({
      subject: "lanbank/repay",
      lastRaisedAt: clock.now() - 30_000,
    });
    expect(received).toHaveLength(1);
    // An hour after the last raise (not the first), it resolves once, with a last message.
    await clock.advance(60 * minute - 30_000 - 1);
    expect((await evaluating.alerts.evaluate()).resolved).toEqual([]);
    await clock.advance(1);
    expect((await evaluating.alerts.evaluate()).resolved).toHaveLength(1);
    expect(received).toHaveLength(2);
    // A raise between the evaluating node's reading and its resolving keeps the alert open.
    await raising.alerts.raise("queued-starts-expired", "lanbank/repay", "again");
    const reopened = (await evaluating.store.listAlerts({ status: "firing" }))[0]!;
    await clock.advance(60 * minute);
    await raising.store.raiseAlert({ ...reopened, id: crypto.randomUUID(), firedAt: clock.now() });
    expect(
      await evaluating.store.resolveAlert("queued-starts-expired", "lanbank/repay", clock.now(), {
        raisedBefore: clock.now() - 60 * minute,
      }),
    ).toBeUndefined();
    expect(await evaluating.store.listAlerts({ status: "firing" })).toHaveLength(1);
  });

  test("stuck instances above a count alert to Feishu; a sink over its rate is suppressed; a robot refusing is recorded", async () => {
    const { alerts, store, clock } = monitor({
      rules: [{ name: "stuck", kind: "stuck", above: 0 }],
      sinks: [
        {
          name: "feishu",
          kind: "feishu",
          url: `${base}/open-apis/bot/v2/hook/H`,
          secret: "inline:fs",
          maxPerMinute: 1,
        },
      ],
    });
    const breach = (instanceId: string, channel: string) => ({
      instanceId,
      channel,
      behavior: "loan",
      businessKey: instanceId,
      step: "wait",
      scope: "step" as const,
      slaMs: 600_000,
      since: clock.now() - 700_000,
      detectedAt: clock.now(),
    });
    await new KnexStuckStore(db).recordBreaches([
      breach("i-1", "lanbank"),
      breach("i-2", "meadow"),
    ]);
    const round = await alerts.evaluate();
    expect(round.fired.map((a) => a.subject).sort()).toEqual(["lanbank", "meadow"]);
    expect(received).toHaveLength(1);
    expect(received[0]?.body).toMatchObject({
      msg_type: "text",
      timestamp: String(Math.floor(clock.now() / 1000)),
    });
    const events = await Promise.all(
      (await store.listAlerts()).map(async (a) =>
        (await store.alertHistory(a.id)).map((h) => h.event),
      ),
    );
    expect(events.flat().sort()).toEqual(["fired", "fired", "sent", "suppressed"]);

    // Feishu answering an error code: recorded as failed.
    answer = {
      status: 200,
      body: '{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}',
    };
    await clock.advance(2 * minute);
    await db.knex.raw(
      `UPDATE "${db.schema}".sla_breaches SET resolved_at = now() WHERE channel = 'meadow'`,
    );
    const cleared = await alerts.evaluate();
    expect(cleared.resolved.map((a) => a.subject)).toEqual(["meadow"]);
    const meadow = (await store.listAlerts()).find((a) => a.subject === "meadow")!;
    const history = await store.alertHistory(meadow.id);
    expect(history.at(-1)).toMatchObject({
      event: "failed",
      sink: "feishu",
      detail: expect.stringContaining("19021"),
    });
  });
});
