import { describe, expect, test } from "vitest";
import { mirrorCryptoDefinition } from "../../src/crypto/configurable/mirror.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { CapflowError, isCapflowError } from "../../src/errors.ts";
import { InProcessLockProvider } from "../../src/memory/in-process-lock-provider.ts";
import { jsonCodec } from "../../src/message/codecs/json-codec.ts";
import { engineHarness } from "../support/harness.ts";
import {
  loanBehavior,
  loanBehaviorAcceptingTo,
  loanBehaviorPollingWhileWaiting,
  testChannel,
} from "../support/loan-definitions.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

/** The channel with refusals of its callback answering the error's code and message. */
function refusalsNamingTheError(channel: ChannelDefinition): ChannelDefinition {
  const loanResult = channel.callbacks!["loan.result"]!;
  return {
    ...channel,
    callbacks: {
      "loan.result": {
        ...loanResult,
        ack: {
          ...loanResult.ack,
          rejectBody: { code: "{{error.code}}", message: "{{error.message}}" },
        },
      },
    },
  };
}

describe("engine: calls and callbacks", () => {
  test("apply, wait for the callback, settle; the step log is masked", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-77" } });
    const started = await h.startLoan("L-1");
    expect(started.step).toBe("apply");
    expect(started.status).toBe("active");

    await h.engine.runDue();
    const waiting = await h.engine.getInstance(started.id);
    expect(waiting).toMatchObject({
      step: "wait",
      status: "waiting",
      context: { apply: { applyNo: "A-77" } },
    });
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(h.transport.requests[0]?.headers["content-type"]).toMatch(/^application\/json/);
    expect(h.transport.requests[0]?.body).toMatchObject({
      loanNo: "L-1",
      amount: 100000,
      idCardNo: "110101199003071234",
    });

    const ack = await h.callback({ loanNo: "L-1", notifyId: "N-1", status: "SUCCESS" });
    expect(ack).toMatchObject({ status: 200, accepted: true, duplicate: false });
    expect(JSON.parse(ack.body)).toEqual({ code: "0000", message: "ok" });

    await h.engine.runDue();
    const done = await h.engine.getInstance(started.id);
    expect(done).toMatchObject({ step: "disbursed", status: "succeeded", nextRunAt: null });

    const history = await h.engine.history(started.id);
    const call = history.find((e) => e.event === "call");
    expect(call).toMatchObject({ fromStep: "apply", toStep: "wait", outcome: "processing" });
    expect(JSON.stringify(call?.request)).not.toContain("110101199003071234");
    expect(history.map((e) => e.event)).toEqual(["intent", "call", "callback"]);
    expect(h.events.map((e) => e.type)).toContain("instance.settled");
  });

  test("start is idempotent on the business key and refuses different input", async () => {
    const h = engineHarness();
    const first = await h.startLoan("L-2");
    const again = await h.startLoan("L-2");
    expect(again.id).toBe(first.id);
    const error = await h.startLoan("L-2", { amount: 5 }).catch((e: unknown) => e);
    expect(isCapflowError(error, "INSTANCE_INPUT_MISMATCH")).toBe(true);
    expect(h.events.filter((e) => e.type === "instance.started")).toHaveLength(1);
  });

  test("not sent: retried on the schedule, the partner sees one request", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "notSent" }, { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan();
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "apply",
      status: "active",
      attempt: 1,
      inFlight: null,
    });
    await h.clock.advance(999);
    expect(await h.engine.runDue()).toBe(0);
    await h.clock.advance(1);
    await h.engine.runDue();
    expect((await h.engine.getInstance(id))?.step).toBe("wait");
    expect(h.transport.count("/loan/apply")).toBe(1);
  });

  test("a call that keeps failing asks for attention before its schedule runs out", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    apply.retry = { schedule: ["1s", "1s", "1s", "1s"], on: ["notSent"] };
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script("/loan/apply", { fault: "notSent" });
    const { id } = await h.startLoan("L-flaky");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ attempt: 2 });
    expect(h.events.filter((e) => e.type === "instance.attention")).toEqual([]);
    await h.clock.advance(1_000);
    await h.engine.runDue();
    expect(h.events).toContainEqual(
      expect.objectContaining({
        type: "instance.attention",
        instanceId: id,
        reason: "repeated-errors",
      }),
    );
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "apply",
      status: "active",
      attempt: 3,
    });
  });

  test("unknown outcome of a non-idempotent call: query, never resend", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan();
    await h.runFor(5_000);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(h.transport.count("/loan/query")).toBe(1);
  });

  test("a failure after the request was sent counts as an unknown outcome: query, never resend", async () => {
    // Masking the answer fails (a style no schema would allow): after the send, not before.
    const h = engineHarness({
      channel: { ...testChannel, masking: { fields: { applyNo: "bogus" as never } } },
    });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-1" } });
    h.transport.script("/loan/query", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan();
    await h.runFor(30_000, 5_000);
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(h.transport.count("/loan/query")).toBe(1);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "disbursed" });
  });

  test("a partner's retryable answer is retried with a new attempt and a new serial", async () => {
    const h = engineHarness();
    h.transport.script(
      "/loan/apply",
      { body: { status: "BUSY" } },
      { body: { status: "ACCEPTED" } },
    );
    const { id } = await h.startLoan();
    await h.runFor(2_000);
    expect((await h.engine.getInstance(id))?.step).toBe("wait");
    const serials = h.transport.requests.map((r) => (r.body as { serial: string }).serial);
    expect(serials).toHaveLength(2);
    expect(serials[0]).not.toBe(serials[1]);
  });

  test("an idempotent call with an unknown outcome is resent with the same serial number", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    apply.idempotent = true;
    apply.retry = { schedule: ["2s"], on: ["unknownOutcome"] };
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script(
      "/loan/apply",
      { fault: "unknownOutcome" },
      { body: { status: "ACCEPTED" } },
    );
    const { id } = await h.startLoan("L-idem");
    await h.runFor(3_000);
    expect((await h.engine.getInstance(id))?.step).toBe("wait");
    const serials = h.transport.requests.map((r) => (r.body as { serial: string }).serial);
    expect(serials).toHaveLength(2);
    expect(serials[0]).toMatch(/^20260105\d{16}$/);
    expect(serials[1]).toBe(serials[0]);
  });

  test("an answer no route takes parks the instance, keeping the in-flight mark", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "WEIRD" } });
    h.transport.script("/loan/query", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan();
    await h.engine.runDue();
    const parked = await h.engine.getInstance(id);
    expect(parked).toMatchObject({
      step: "apply",
      nextRunAt: null,
      lastError: { code: "ROUTE_NO_MATCH" },
    });
    expect(parked?.inFlight).not.toBeNull();
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "instance.attention", reason: "parked" }),
    );
    // An operator retries: the engine queries instead of sending the disbursement again.
    await h.engine.retryNow(id, { who: "ops@example", why: "partner confirmed the status table" });
    await h.runFor(2_000);
    expect((await h.engine.getInstance(id))?.step).toBe("disbursed");
    expect(h.transport.count("/loan/apply")).toBe(1);
  });
});

describe("engine: crashes and ownership", () => {
  test("a worker that lost its lease mid-call cannot commit; the next worker queries instead of resending", async () => {
    const h = engineHarness({ engine: { leaseMs: 10_000 } });
    let release!: (answer: ScriptedAnswer) => void;
    h.transport.script("/loan/apply", {
      hang: new Promise<ScriptedAnswer>((resolve) => (release = resolve)),
    });
    h.transport.script("/loan/query", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan();

    const stale = h.engine.runDue();
    await expect.poll(async () => (await h.engine.getInstance(id))?.inFlight).toBeTruthy();

    await h.clock.advance(10_001);
    const other = h.makeEngine({
      workerId: "w2",
      locks: new InProcessLockProvider({ clock: h.clock }),
    });
    await other.runDue();
    expect((await other.getInstance(id))?.step).toBe("query");
    await h.clock.advance(1_000);
    await other.runDue();
    expect((await other.getInstance(id))?.step).toBe("disbursed");

    release({ body: { status: "ACCEPTED" } });
    await stale;
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "ownership.lost", instanceId: id }),
    );
    expect((await h.engine.getInstance(id))?.step).toBe("disbursed");
    expect(h.transport.count("/loan/apply")).toBe(1);
  });
});

describe("engine: leases", () => {
  test("every commit that keeps the lease extends it: a chain of steps never outlives its claim", async () => {
    const h = engineHarness({
      engine: { leaseMs: 10_000 },
      behaviors: [
        loanBehaviorAcceptingTo("check", {
          check: { kind: "decide", routes: [], otherwise: "wait" },
        }),
      ],
    });
    const kept: { now: number; leaseUntil: number | undefined }[] = [];
    const commit = h.store.commitTransition.bind(h.store);
    h.store.commitTransition = (transition) => {
      if (transition.keepLease)
        kept.push({ now: transition.now, leaseUntil: transition.leaseUntil });
      return commit(transition);
    };
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan();
    await h.engine.runDue();
    expect((await h.engine.getInstance(id))?.step).toBe("wait");
    // The intent before the call, and the move to the decide step run straight after it.
    expect(kept.length).toBeGreaterThanOrEqual(2);
    for (const entry of kept) expect(entry.leaseUntil).toBe(entry.now + 10_000);
  });
});

describe("engine: callbacks", () => {
  test("a callback that arrives before the instance waits for it is kept and applied", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const ack = await h.callback({ loanNo: "L-early", notifyId: "N-e", status: "SUCCESS" });
    expect(ack.accepted).toBe(true);
    const { id } = await h.startLoan("L-early");
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
  });

  test("duplicates are acknowledged every time and applied once", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-dup");
    await h.engine.runDue();
    const first = await h.callback({ loanNo: "L-dup", notifyId: "N-d", status: "SUCCESS" });
    const second = await h.callback({ loanNo: "L-dup", notifyId: "N-d", status: "SUCCESS" });
    expect([first.duplicate, second.duplicate]).toEqual([false, true]);
    expect(second.body).toBe(first.body);
    await h.runFor(1_000);
    const history = await h.engine.history(id);
    expect(history.filter((e) => e.event === "callback")).toHaveLength(1);
  });

  test("out of order: a late 'processing' never moves a settled instance back", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-ooo");
    await h.engine.runDue();
    await h.callback({ loanNo: "L-ooo", notifyId: "N-2", status: "SUCCESS" });
    await h.engine.runDue();
    const late = await h.callback({ loanNo: "L-ooo", notifyId: "N-1", status: "PROCESSING" });
    expect(late.accepted).toBe(true);
    await h.runFor(60_000, 10_000);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
  });

  test("an intermediate notification is consumed and the wait goes on", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-mid");
    await h.engine.runDue();
    await h.callback({ loanNo: "L-mid", notifyId: "N-1", status: "PROCESSING" });
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });
    await h.callback({ loanNo: "L-mid", notifyId: "N-2", status: "FAIL" });
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "failed", status: "failed" });
  });

  test("no callback by the deadline: the query step runs", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script("/loan/query", { body: { status: "FAIL" } });
    const { id } = await h.startLoan("L-late");
    await h.engine.runDue();
    await h.runFor(29 * 60_000, 60_000);
    expect((await h.engine.getInstance(id))?.step).toBe("wait");
    await h.runFor(2 * 60_000, 1_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "failed", status: "failed" });
  });

  test("callback or poll, whichever settles first: a poll that settles wins and the callback is ignored", async () => {
    const h = engineHarness({ behaviors: [loanBehaviorPollingWhileWaiting(["1m", "5m"])] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script(
      "/loan/query",
      { body: { status: "PROCESSING" } },
      { body: { status: "SUCCESS" } },
    );
    const { id } = await h.startLoan("L-race");
    await h.engine.runDue();
    await h.runFor(60_000, 10_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", attempt: 1 });
    await h.runFor(5 * 60_000, 10_000);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    const ack = await h.callback({ loanNo: "L-race", notifyId: "N-r", status: "FAIL" });
    expect(ack.accepted).toBe(true);
    await h.runFor(10_000);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    expect(h.transport.count("/loan/query")).toBe(2);
  });

  test("a callback the correlation cannot place is refused, not stored", async () => {
    const h = engineHarness();
    const ack = await h.callback({ notifyId: "N-x", status: "SUCCESS" });
    expect(ack).toMatchObject({ accepted: false, status: 400 });
    expect(JSON.parse(ack.body)).toEqual({ code: "9999", message: "rejected" });
    expect(h.events).toContainEqual(expect.objectContaining({ type: "callback.rejected" }));
  });

  test("a callback body that does not decode is refused without quoting it back", async () => {
    const h = engineHarness({ channel: refusalsNamingTheError(testChannel) });
    const ack = await h.engine.receiveCallback("lanbank", "loan.result", {
      method: "POST",
      path: "/callbacks/lanbank/loan.result",
      headers: { "content-type": "application/json" },
      body: "name=Zhang San&status=SUCCESS",
    });
    expect(ack).toMatchObject({
      accepted: false,
      status: 400,
      error: { code: "CODEC_DECODE_FAILED", message: "the callback body is not valid json" },
    });
    expect(JSON.stringify(ack)).not.toContain("Zhang");
    // The sender is not told which check failed (no oracle): the host is, in ack.error.
    expect(JSON.parse(ack.body)).toEqual({
      code: "CALLBACK_REJECTED",
      message: "the callback could not be verified",
    });
  });
});

describe("engine: a refused callback tells its sender nothing about which check failed", () => {
  const crypto = (contentKey: string): ChannelDefinition["crypto"] => ({
    handler: "configurable",
    options: {
      keys: {
        secret: { ref: "inline:callback-hmac-secret" },
        contentKey: { ref: `inline:${contentKey}` },
      },
      callback: {
        encryption: { cipher: "aes-256-gcm", contentKey: "shared", envelope: { data: "data" } },
        signature: {
          algorithm: "hmac-sha256",
          canonical: { kind: "rawBody" },
          placement: { in: "header", name: "X-Sign" },
        },
      },
    },
  });
  const platformKey = "k".repeat(32);
  const secrets = createDefaultSecretResolver({ allowInline: true });
  /** A notification sealed by the partner side; with another content key it fails to decrypt. */
  async function notification(contentKey: string) {
    const partner = await createCryptoHandlerRegistry().create(
      mirrorCryptoDefinition(crypto(contentKey), {}),
      { secrets },
    );
    const wire = await partner.sealRequest({
      method: "POST",
      path: "/callbacks/lanbank/loan.result",
      headers: {},
      query: {},
      body: { loanNo: "L-c", notifyId: "N-c", status: "SUCCESS" },
      codec: jsonCodec,
    });
    return { method: "POST" as const, path: wire.path, headers: wire.headers, body: wire.body };
  }

  test("a bad signature and a bad ciphertext get the same answer; the host sees which", async () => {
    const h = engineHarness({
      channel: refusalsNamingTheError({ ...testChannel, crypto: crypto(platformKey) }),
      engine: { secrets },
    });
    await h.startLoan("L-c");
    const genuine = await notification(platformKey);
    const badSignature = { ...genuine, headers: { ...genuine.headers, "x-sign": "00" } };
    const badCiphertext = await notification("z".repeat(32));
    const refusedSignature = await h.engine.receiveCallback("lanbank", "loan.result", badSignature);
    const refusedCiphertext = await h.engine.receiveCallback(
      "lanbank",
      "loan.result",
      badCiphertext,
    );
    expect(refusedSignature.error?.code).toBe("CRYPTO_VERIFY_FAILED");
    expect(refusedCiphertext.error?.code).toBe("CRYPTO_DECRYPT_FAILED");
    const told = (ack: typeof refusedSignature) => ({
      status: ack.status,
      headers: ack.headers,
      body: ack.body,
    });
    expect(told(refusedSignature)).toEqual(told(refusedCiphertext));
    expect(JSON.parse(refusedSignature.body)).toEqual({
      code: "CALLBACK_REJECTED",
      message: "the callback could not be verified",
    });
    const accepted = await h.engine.receiveCallback("lanbank", "loan.result", genuine);
    expect(accepted).toMatchObject({ accepted: true });
  });
});

describe("engine: polls, operators", () => {
  test("a poll schedule used up goes to manual review and asks for attention", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-slow");
    await h.runFor(60_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "manual", status: "manual" });
    expect(h.transport.count("/loan/query")).toBe(3);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "instance.attention", reason: "manual" }),
    );
    expect(h.transport.count("/loan/apply")).toBe(1);
  });

  test("moveTo reopens a manual instance; cancel settles it; each is in the history with who and why", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-ops");
    await h.runFor(60_000);
    const moved = await h.engine.moveTo(id, "query", {
      who: "alice",
      why: "partner fixed its query API",
    });
    expect(moved).toMatchObject({ step: "query", status: "waiting" });
    const cancelled = await h.engine.cancel(id, { who: "bob", why: "customer withdrew" });
    expect(cancelled.status).toBe("cancelled");
    const error = await h.engine.cancel(id, { who: "bob", why: "again" }).catch((e: unknown) => e);
    expect(isCapflowError(error, "INSTANCE_SETTLED")).toBe(true);
    const operator = (await h.engine.history(id)).filter((e) => e.event === "operator");
    expect(operator.map((e) => [e.outcome, e.actor?.who])).toEqual([
      ["moveTo:query", "alice"],
      ["cancel", "bob"],
    ]);
  });

  test("delay and decide steps route on the instance's data", async () => {
    const behavior = loanBehavior({
      check: {
        kind: "decide",
        routes: [{ when: "input.amount > 500000", to: "manual" }],
        otherwise: "pause",
      },
      pause: { kind: "delay", duration: "10s", next: "apply" },
    });
    behavior.initial = "check";
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const small = await h.startLoan("L-small");
    const large = await h.startLoan("L-large", { amount: 900000 });
    await h.engine.runDue();
    expect(await h.engine.getInstance(large.id)).toMatchObject({
      step: "manual",
      status: "manual",
    });
    expect(await h.engine.getInstance(small.id)).toMatchObject({
      step: "pause",
      status: "waiting",
    });
    await h.runFor(10_000);
    expect(await h.engine.getInstance(small.id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
  });

  test("a template naming an unknown processor parks the instance before anything is sent", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    apply.request = { format: "json", body: { amount: "{{toFen input.amount}}" } };
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-bad");
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "apply",
      nextRunAt: null,
      lastError: { code: "PROCESSOR_NOT_FOUND" },
    });
    expect(h.transport.count("/loan/apply")).toBe(0);
  });
});

describe("engine: definitions that cannot be loaded", () => {
  test("a passing outage of the definition source backs off; a missing definition parks", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-outage");
    const getChannel = h.definitions.getChannel.bind(h.definitions);
    let down = true;
    h.definitions.getChannel = async (code) => {
      if (down)
        throw new CapflowError("STORE_CONNECTION_LOST", "database away", { retryable: true });
      return getChannel(code);
    };
    await h.clock.advance(2_000); // past the runtime cache's revision check
    await h.engine.runDue();
    const waiting = await h.engine.getInstance(id);
    expect(waiting).toMatchObject({ step: "apply", lastError: { code: "STORE_CONNECTION_LOST" } });
    expect(waiting?.nextRunAt).toBe(h.clock.now() + 30_000);
    expect(h.events.filter((e) => e.type === "instance.attention")).toEqual([]);
    down = false;
    await h.runFor(30_000, 10_000);
    expect((await h.engine.getInstance(id))?.step).toBe("wait");

    const missing = engineHarness();
    missing.definitions.getChannel = async () => undefined;
    const other = await missing.startLoan("L-missing");
    await missing.engine.runDue();
    expect(await missing.engine.getInstance(other.id)).toMatchObject({
      nextRunAt: null,
      lastError: { code: "DEFINITION_NOT_FOUND" },
    });
    expect(missing.events).toContainEqual(
      expect.objectContaining({ type: "instance.attention", reason: "parked" }),
    );
  });

  test("a failure nobody classified is INTERNAL, not a template or configuration problem", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-bug");
    const commit = h.store.commitTransition.bind(h.store);
    let broken = true;
    h.store.commitTransition = async (transition) => {
      if (broken && transition.log?.event !== "error") {
        broken = false;
        throw new TypeError("cannot read properties of undefined");
      }
      return commit(transition);
    };
    await h.engine.runDue();
    const after = await h.engine.getInstance(id);
    expect(after).toMatchObject({ step: "apply", lastError: { code: "INTERNAL" } });
    expect(after?.lastError?.message).toContain("cannot read properties of undefined");
    // Nothing was sent (the intent never committed); a bug needs a person: parked, not retried.
    expect(after?.nextRunAt).toBeNull();
    expect(h.transport.count("/loan/apply")).toBe(0);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "instance.attention", reason: "parked", code: "INTERNAL" }),
    );
  });
});
