import {
  type BehaviorDefinition,
  BusinessCalendar,
  CachedQueries,
  type CallStep,
  type ChannelDefinition,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  parseHolidaySchedule,
} from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import {
  type ScriptedAnswer,
  ScriptedTransport,
} from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexQueryCacheStore } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

const shanghai = (local: string) => Date.parse(`${local}+08:00`);

const lanbank: ChannelDefinition = {
  ...structuredClone(testChannel),
  calendar: { cutoff: "23:30" },
  interfaces: {
    ...structuredClone(testChannel.interfaces),
    "repay.trial": { method: "POST", path: "/repay/trial", idempotent: true },
  },
};

/** A repayment trial (还款试算): one query, cached per loan until the cut-off. */
const trial: BehaviorDefinition = {
  channel: "lanbank",
  code: "repay-trial",
  cache: { key: "input.loanNo" },
  initial: "ask",
  steps: {
    ask: {
      kind: "call",
      interface: "repay.trial",
      request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
      response: { extract: { due: "body.due" } },
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      otherwise: "failed",
    },
    done: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
  },
};

const meadow: ChannelDefinition = {
  ...structuredClone(testChannel),
  code: "meadow",
  interfaces: { "loan.apply": { method: "POST", path: "/meadow/apply" } },
};

describe.skipIf(!databaseUrl)(databaseUrl ? "cached queries on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    db = await openTestPostgres({ pool: { max: 16 } });
  });
  afterAll(async () => {
    await db.drop();
  });

  test("10,000 trial requests for 20 loans call the funder once per loan; the rest are served from the shared cache, other channels unaffected; the next day asks again", async () => {
    const clock = new ManualClock(shanghai("2026-03-10T09:00:00"));
    const transport = new ScriptedTransport()
      .script("/repay/trial", { body: { status: "SUCCESS", due: "1024.00" } })
      .script("/meadow/apply", { body: { status: "SUCCESS" } });
    const meadowLoan = loanBehavior();
    meadowLoan.channel = "meadow";
    const definitions = new MemoryDefinitionSource({
      channels: [lanbank, meadow],
      behaviors: [trial, meadowLoan],
    });
    const engine = new Engine({
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      definitions,
      processors: new ProcessorRegistry(),
      transport,
      clock,
      locks: new InProcessLockProvider({ clock }),
    });
    // Askers wait on one instance each. When nothing is due (its step is leased by another
    // asker's run, or was put back after a lost lock race), the manual clock moves a second so
    // that what a real clock would reach comes due, and the asker steps aside briefly.
    const settle = async (id: string) => {
      for (;;) {
        const instance = await engine.getInstance(id);
        if (instance && instance.status !== "active" && instance.status !== "waiting")
          return instance;
        if ((await engine.runDue()) === 0) {
          await clock.advance(1_000);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    };
    // Two nodes sharing the database.
    const store = new KnexQueryCacheStore(db);
    const nodeA = new CachedQueries({ engine, definitions, store, clock, settle });
    const nodeB = new CachedQueries({ engine, definitions, store, clock, settle });
    const ask = (node: CachedQueries, i: number) =>
      node.query({
        channel: "lanbank",
        behavior: "repay-trial",
        businessKey: `T-${i}`,
        input: { loanNo: `L-${i % 20}` },
      });

    // Meanwhile another channel's business goes on as usual.
    const others = Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        engine.start({
          channel: "meadow",
          behavior: "loan",
          businessKey: `M-${i}`,
          input: { loanNo: `M-${i}`, amount: 100, idCardNo: "110101199003071234" },
        }),
      ),
    );
    const first = await Promise.all(Array.from({ length: 5_000 }, (_, i) => ask(nodeA, i)));
    const second = await Promise.all(
      Array.from({ length: 5_000 }, (_, i) => ask(nodeB, 5_000 + i)),
    );
    await others;
    while ((await engine.runDue()) > 0) {}

    expect(transport.count("/repay/trial")).toBe(20);
    expect([...first, ...second].filter((answer) => !answer.cached)).toHaveLength(20);
    expect(second.every((answer) => answer.cached)).toBe(true);
    expect(first[7]?.value).toEqual({
      status: "succeeded",
      context: expect.objectContaining({ ask: { due: "1024.00" } }),
    });
    // Until the channel's cut-off, 23:30 in Shanghai.
    expect(first[7]?.expiresAt).toBe(shanghai("2026-03-10T23:30:00"));
    expect(transport.count("/meadow/apply")).toBe(5);

    // After the cut-off: the next business day asks the funder again, once, even when two nodes
    // ask at the same moment (both find the one instance of that key and day).
    clock.set(shanghai("2026-03-10T23:31:00"));
    const nextDay = await Promise.all([ask(nodeA, 7), ask(nodeB, 27)]);
    expect(nextDay[0]?.instanceId).toBe(nextDay[1]?.instanceId);
    expect(nextDay[0]?.instanceId).not.toBe(first[7]?.instanceId);
    expect(transport.count("/repay/trial")).toBe(21);
  }, 300_000);

  /** Two nodes asking lanbank's repayment trial through one engine on the test database. */
  /**
   * A trial for `loanNo` asked at `asked` (Shanghai time) is kept in PostgreSQL until `until`:
   * served from the cache on another node a minute before, asked of the funder again at it.
   */
  async function expectAnswerUntil(
    channel: ChannelDefinition,
    loanNo: string,
    asked: string,
    until: string,
    calendar?: BusinessCalendar,
  ) {
    const clock = new ManualClock(shanghai(asked));
    const transport = new ScriptedTransport().script("/repay/trial", {
      body: { status: "SUCCESS", due: "7.00" },
    });
    const { ask } = twoNodes(transport, clock, { channel, ...(calendar ? { calendar } : {}) });
    const first = await ask(0, loanNo);
    expect(first, asked).toMatchObject({ cached: false, expiresAt: shanghai(until) });
    await clock.advance(shanghai(until) - clock.now() - 60_000);
    expect(await ask(1, loanNo), asked).toMatchObject({
      cached: true,
      instanceId: first.instanceId,
    });
    expect(transport.count("/repay/trial"), asked).toBe(1);
    await clock.advance(60_000);
    expect(await ask(1, loanNo), asked).toMatchObject({ cached: false });
    expect(transport.count("/repay/trial"), asked).toBe(2);
  }

  function twoNodes(
    transport: ScriptedTransport,
    clock: ManualClock,
    {
      behavior = trial,
      channel = lanbank,
      calendar,
    }: {
      behavior?: BehaviorDefinition;
      channel?: ChannelDefinition;
      calendar?: BusinessCalendar;
    } = {},
  ) {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [behavior] });
    const engine = new Engine({
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      definitions,
      processors: new ProcessorRegistry(),
      transport,
      clock,
      locks: new InProcessLockProvider({ clock }),
    });
    // The instance's one step runs as soon as it is due; the clock does not move. Returns it
    // settled, parked, or held by an open circuit until the breaker's probe time.
    const settle = async (id: string) => {
      for (;;) {
        const instance = await engine.getInstance(id);
        if (instance && instance.status !== "active" && instance.status !== "waiting")
          return instance;
        if ((await engine.runDue()) > 0) continue;
        const held = await engine.getInstance(id);
        if (held?.nextRunAt === null && held.lastError !== null) return held;
        if (held?.refusals?.reason === "circuit-open" && (held.nextRunAt ?? 0) > clock.now())
          return held;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const store = new KnexQueryCacheStore(db);
    const options = {
      engine,
      definitions,
      store,
      clock,
      settle,
      ...(calendar ? { calendar } : {}),
    };
    const nodes = [new CachedQueries(options), new CachedQueries(options)] as const;
    const ask = (node: 0 | 1, loanNo: string) =>
      nodes[node].query({
        channel: "lanbank",
        behavior: "repay-trial",
        businessKey: "query",
        input: { loanNo },
      });
    return { engine, ask };
  }

  test("a failed answer is not kept: the next request runs the query again, a burst after a failure calls the funder once, and a success is kept until the cut-off", async () => {
    const clock = new ManualClock(shanghai("2026-03-11T09:00:00"));
    const transport = new ScriptedTransport().script(
      "/repay/trial",
      { body: { status: "FAIL" } },
      { body: { status: "FAIL" } },
      { body: { status: "SUCCESS", due: "88.00" } },
    );
    const { engine, ask } = twoNodes(transport, clock);

    const first = await ask(0, "F-1");
    expect(first).toMatchObject({ value: { status: "failed" }, cached: false });
    // Not kept: served until it settled, that is not at all.
    expect(first.expiresAt).toBe(clock.now());
    expect(transport.count("/repay/trial")).toBe(1);

    // A peak after the failure, on both nodes at once: one new run, one call to the funder.
    const burst = await Promise.all(
      Array.from({ length: 60 }, (_, i) => ask((i % 2) as 0 | 1, "F-1")),
    );
    expect(transport.count("/repay/trial")).toBe(2);
    expect(new Set(burst.map((answer) => answer.instanceId)).size).toBe(1);
    expect(burst[0]?.instanceId).not.toBe(first.instanceId);
    expect(burst.every((answer) => answer.value.status === "failed")).toBe(true);

    // The next request asks again; this time the funder answers, and that answer is kept.
    const third = await ask(1, "F-1");
    expect(third).toMatchObject({ value: { status: "succeeded" }, cached: false });
    expect(third.value.context).toMatchObject({ ask: { due: "88.00" } });
    expect(third.expiresAt).toBe(shanghai("2026-03-11T23:30:00"));
    const later = await Promise.all([ask(0, "F-1"), ask(1, "F-1")]);
    expect(later.map((answer) => [answer.cached, answer.instanceId])).toEqual([
      [true, third.instanceId],
      [true, third.instanceId],
    ]);
    expect(transport.count("/repay/trial")).toBe(3);

    // Three runs, three instances of that key and day.
    const runs = await Promise.all(
      [first, burst[0], third].map((answer) => engine.getInstance(answer!.instanceId)),
    );
    expect(runs.map((instance) => [instance?.businessKey, instance?.status])).toEqual([
      [`lanbank/repay-trial/F-1@${shanghai("2026-03-11T23:30:00")}`, "failed"],
      [`lanbank/repay-trial/F-1@${shanghai("2026-03-11T23:30:00")}#2`, "failed"],
      [`lanbank/repay-trial/F-1@${shanghai("2026-03-11T23:30:00")}#3`, "succeeded"],
    ]);
  });

  test("cache.failures serves a failed answer for that long, then the next request asks again", async () => {
    const clock = new ManualClock(shanghai("2026-03-12T09:00:00"));
    const transport = new ScriptedTransport().script(
      "/repay/trial",
      { body: { status: "FAIL" } },
      { body: { status: "SUCCESS", due: "12.00" } },
    );
    const { ask } = twoNodes(transport, clock, {
      behavior: { ...structuredClone(trial), cache: { key: "input.loanNo", failures: "30s" } },
    });

    const failed = await ask(0, "N-1");
    expect(failed).toMatchObject({ value: { status: "failed" }, cached: false });
    expect(failed.expiresAt).toBe(shanghai("2026-03-12T09:00:30"));
    clock.set(shanghai("2026-03-12T09:00:29"));
    const again = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ask((i % 2) as 0 | 1, "N-1")),
    );
    expect(again.every((answer) => answer.cached && answer.value.status === "failed")).toBe(true);
    expect(transport.count("/repay/trial")).toBe(1);

    clock.set(shanghai("2026-03-12T09:00:30"));
    const retried = await ask(1, "N-1");
    expect(retried).toMatchObject({ value: { status: "succeeded" }, cached: false });
    expect(retried.expiresAt).toBe(shanghai("2026-03-12T23:30:00"));
    expect(transport.count("/repay/trial")).toBe(2);
  });

  test("the interface's breaker holds cached queries: once it opens, queries for other loans are not sent and are answered CIRCUIT_OPEN at once; after its cooldown a probe asks again", async () => {
    const clock = new ManualClock(shanghai("2026-03-14T09:00:00"));
    const fragile: ChannelDefinition = structuredClone(lanbank);
    fragile.interfaces["repay.trial"] = {
      ...fragile.interfaces["repay.trial"]!,
      // A synchronous query is not retried: its asker hears the failure.
      retry: { schedule: [] },
      breaker: { failureRate: 0.5, minimumCalls: 2, sampleSize: 2, cooldown: "30s" },
    };
    // The funder refuses connections twice (not sent: a failure for the breaker), then recovers.
    const transport = new ScriptedTransport().script(
      "/repay/trial",
      { fault: "notSent" },
      { fault: "notSent" },
      { body: { status: "SUCCESS", due: "7.00" } },
    );
    let sends = 0;
    const counting = Object.assign(Object.create(transport), {
      send: (request: Parameters<ScriptedTransport["send"]>[0]) => {
        sends++;
        return transport.send(request);
      },
    }) as ScriptedTransport;
    // A call that cannot be sent ends the query as failed, rather than parking it for an operator.
    const behavior = structuredClone(trial);
    (behavior.steps.ask as CallStep).onRetryExhausted = "failed";
    const { engine, ask } = twoNodes(counting, clock, { channel: fragile, behavior });

    // The funder breaks down: two loans' trials fail, and the breaker opens.
    for (const loanNo of ["B-1", "B-2"]) {
      const answer = await ask(0, loanNo);
      expect(answer.value.status).not.toBe("succeeded");
      expect(answer.cached).toBe(false);
    }
    expect(sends).toBe(2);

    // Other loans, on both nodes: nothing is sent; each asker hears CIRCUIT_OPEN (retryable).
    const refused = await Promise.allSettled(
      ["B-3", "B-4", "B-5", "B-3", "B-1"].map((loanNo, i) => ask((i % 2) as 0 | 1, loanNo)),
    );
    for (const outcome of refused) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        code: "CIRCUIT_OPEN",
        retryable: true,
      });
    }
    expect(sends).toBe(2);
    // Each loan has one run waiting for the breaker, not one per request.
    const held = await db.knex.raw(
      `SELECT business_key FROM "${db.schema}".instances WHERE status = 'active' ORDER BY business_key`,
    );
    expect(
      (held as { rows: { business_key: string }[] }).rows.map((row) => row.business_key),
    ).toEqual([
      `lanbank/repay-trial/B-1@${shanghai("2026-03-14T23:30:00")}#2`,
      `lanbank/repay-trial/B-3@${shanghai("2026-03-14T23:30:00")}`,
      `lanbank/repay-trial/B-4@${shanghai("2026-03-14T23:30:00")}`,
      `lanbank/repay-trial/B-5@${shanghai("2026-03-14T23:30:00")}`,
    ]);

    // After the cooldown the breaker lets one call through; the funder has recovered, the
    // breaker closes, and the held runs go out, one call each, their answers kept.
    for (let seconds = 0; seconds < 300; seconds += 10) {
      await clock.advance(10_000);
      while ((await engine.runDue()) > 0) {}
    }
    expect(sends).toBe(6);
    // Asking again takes each held run's answer without another call, and keeps it.
    for (const loanNo of ["B-1", "B-3", "B-4", "B-5"]) {
      expect(await ask(0, loanNo)).toMatchObject({ value: { status: "succeeded" } });
      expect(await ask(1, loanNo)).toMatchObject({ cached: true, value: { status: "succeeded" } });
    }
    expect(sends).toBe(6);
    expect(await ask(1, "B-6")).toMatchObject({ cached: false, value: { status: "succeeded" } });
    expect(sends).toBe(7);
  });

  test("a run parked for an operator is answered with its error at once, and the next request runs anew", async () => {
    const clock = new ManualClock(shanghai("2026-03-15T09:00:00"));
    const noRetry: ChannelDefinition = structuredClone(lanbank);
    noRetry.interfaces["repay.trial"] = {
      ...noRetry.interfaces["repay.trial"]!,
      retry: { schedule: [] },
    };
    // The call cannot be sent, and the behavior has nowhere to go then: the run is parked.
    const transport = new ScriptedTransport().script(
      "/repay/trial",
      { fault: "notSent" },
      { body: { status: "SUCCESS", due: "3.00" } },
    );
    const { ask } = twoNodes(transport, clock, { channel: noRetry });

    const parked = await Promise.allSettled([ask(0, "P-1"), ask(1, "P-1")]);
    for (const outcome of parked) {
      expect(outcome.status).toBe("rejected");
      const reason = (outcome as PromiseRejectedResult).reason as Error;
      expect(reason).toMatchObject({ code: "TRANSPORT_NOT_SENT", retryable: true });
      // Askers are the upstream: the run's error in its public form, not the operators' text
      // (which names where the funder was called).
      expect(reason.message).toMatch(
        /^lanbank\/repay-trial got no answer: its run \S+ was parked for an operator \(the funder's interface could not be reached; the request was not sent\); asking again runs it anew$/,
      );
    }
    // Not kept: the next request is a new run, which the funder answers.
    const next = await ask(0, "P-1");
    expect(next).toMatchObject({ cached: false, value: { status: "succeeded" } });
    expect(await ask(1, "P-1")).toMatchObject({ cached: true, instanceId: next.instanceId });
  });

  test("a cut-off lifetime ends at the next working day's cut-off: an answer asked after Friday's, on a weekend or before a holiday stands over the days off", async () => {
    const channel: ChannelDefinition = {
      ...lanbank,
      // The trial is asked any day; the funder's day still ends at a working day's cut-off.
      calendar: {
        workingDaysOnly: true,
        holidays: "cn",
        cutoff: "23:30",
        interfaces: { "repay.trial": [] },
      },
    };
    // 2027's New Year holiday, given as the calendar's schedule for that year.
    const calendar = new BusinessCalendar({
      definitions: new MemoryDefinitionSource({ channels: [channel] }),
      holidays: [
        parseHolidaySchedule({
          name: "cn",
          years: [2027],
          holidays: [{ name: "元旦", from: "2027-01-01", to: "2027-01-03", workingDays: [] }],
        }),
      ],
    });
    const cases: [asked: string, until: string, given?: BusinessCalendar][] = [
      // Friday after its cut-off: until Monday's.
      ["2026-03-13T23:45:00", "2026-03-16T23:30:00"],
      // A Saturday: until Monday's.
      ["2026-03-14T10:00:00", "2026-03-16T23:30:00"],
      // After the cut-off before Labour Day (1 to 5 May off): until Wednesday 6 May's.
      ["2026-04-30T23:45:00", "2026-05-06T23:30:00"],
      // After Friday 8 May's cut-off: Saturday 9 May is a make-up working day.
      ["2026-05-08T23:45:00", "2026-05-09T23:30:00"],
      // The holidays of the schedules the calendar was given count.
      ["2026-12-31T23:45:00", "2027-01-04T23:30:00", calendar],
    ];
    for (const [index, [asked, until, given]] of cases.entries()) {
      // Over the days off, up to the working day's cut-off, the answer is served from the cache.
      await expectAnswerUntil(channel, `W-${index}`, asked, until, given);
    }
  });

  test("a funder whose day ends shortly after midnight (01:00-00:30, cut-off 00:30): an answer asked on Friday stands until Saturday 00:30, one asked on Saturday until Tuesday 00:30", async () => {
    const channel: ChannelDefinition = {
      ...lanbank,
      calendar: {
        serviceWindows: ["01:00-00:30"],
        workingDaysOnly: true,
        holidays: "cn",
        cutoff: "00:30",
        interfaces: { "repay.trial": [] },
      },
    };
    const cases: [asked: string, until: string][] = [
      // Friday: the end of Friday's day, not Friday 00:30 (then Monday's).
      ["2026-03-13T12:00:00", "2026-03-14T00:30:00"],
      // Friday 00:15 is still Thursday's day: its cut-off, a quarter of an hour later.
      ["2026-03-13T00:15:00", "2026-03-13T00:30:00"],
      // Saturday: the end of Monday, not Monday 00:30 before Monday's window.
      ["2026-03-14T10:00:00", "2026-03-17T00:30:00"],
      // The day before Labour Day (1 to 5 May): the holiday's 00:30, not 6 May's.
      ["2026-04-30T12:00:00", "2026-05-01T00:30:00"],
      // During the holiday: the end of Wednesday 6 May.
      ["2026-05-02T10:00:00", "2026-05-07T00:30:00"],
    ];
    for (const [index, [asked, until]] of cases.entries()) {
      await expectAnswerUntil(channel, `N-${index}`, asked, until);
    }
  });

  test("a holiday schedule cached queries were not given: without a calendar, every day's cut-off ends the answer; a calendar given without it is refused naming the option", async () => {
    const channel: ChannelDefinition = {
      ...lanbank,
      calendar: {
        workingDaysOnly: true,
        holidays: "hk",
        cutoff: "23:30",
        interfaces: { "repay.trial": [] },
      },
    };
    const hk = parseHolidaySchedule({ name: "hk", years: [2026], holidays: [] });
    const definitions = new MemoryDefinitionSource({ channels: [channel] });
    const withHk = new BusinessCalendar({ definitions, holidays: [hk] });
    const withoutHk = new BusinessCalendar({ definitions });
    // Friday 13 March after its cut-off.
    const asked = shanghai("2026-03-13T23:45:00");
    const transport = new ScriptedTransport().script("/repay/trial", {
      body: { status: "SUCCESS", due: "7.00" },
    });
    const ask = (loanNo: string, calendar?: BusinessCalendar) => {
      return twoNodes(transport, new ManualClock(asked), {
        channel,
        ...(calendar ? { calendar } : {}),
      }).ask(0, loanNo);
    };
    // No calendar (the schedule cannot count): the next day's cut-off, never later than the
    // working day's.
    expect(await ask("HK-1")).toMatchObject({
      cached: false,
      expiresAt: shanghai("2026-03-14T23:30:00"),
    });
    // The calendar given knows the schedule: Monday's.
    expect(await ask("HK-2", withHk)).toMatchObject({
      cached: false,
      expiresAt: shanghai("2026-03-16T23:30:00"),
    });
    // The calendar given does not: refused before anything is started, naming what to give.
    const refused = await ask("HK-3", withoutHk).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "CONFIG_INVALID" });
    expect((refused as Error).message).toMatch(/CachedQueriesOptions\.calendar/);
    expect((refused as Error).message).toMatch(/"hk"/);
    expect(transport.count("/repay/trial")).toBe(2);
  });

  test("with a duration as lifetime, nodes asking moments apart share one run", async () => {
    const clock = new ManualClock(shanghai("2026-03-16T09:00:00"));
    let answer!: (value: ScriptedAnswer) => void;
    const transport = new ScriptedTransport().script("/repay/trial", {
      hang: new Promise<ScriptedAnswer>((resolve) => {
        answer = resolve;
      }),
    });
    const { ask } = twoNodes(transport, clock, {
      behavior: { ...structuredClone(trial), cache: { key: "input.loanNo", lifetime: "10m" } },
    });
    const first = ask(0, "D-1");
    while (transport.count("/repay/trial") === 0) await new Promise((r) => setTimeout(r, 5));
    // The other node asks 40 ms later, while the funder has not answered yet.
    await clock.advance(40);
    const second = ask(1, "D-1");
    await new Promise((r) => setTimeout(r, 50));
    answer({ body: { status: "SUCCESS", due: "5.00" } });
    const [a, b] = await Promise.all([first, second]);
    expect(a.instanceId).toBe(b.instanceId);
    expect(transport.count("/repay/trial")).toBe(1);
    expect(a.expiresAt).toBe(shanghai("2026-03-16T09:10:00"));
  });

  test("an earlier run's answer arriving late never replaces a later run's success", async () => {
    const store = new KnexQueryCacheStore(db);
    const entry = {
      key: "lanbank/repay-trial/late",
      channel: "lanbank",
      behavior: "repay-trial",
      storedAt: shanghai("2026-03-13T09:00:00"),
      expiresAt: shanghai("2026-03-13T23:30:00"),
    };
    const failed = { status: "failed", context: {} };
    await store.putCached({ ...entry, instanceId: "run-1", run: 1, value: failed });
    // Run 2 replaces the failed run 1; run 1 again (another node, late) does not replace run 2.
    const second = await store.putCached({ ...entry, instanceId: "run-2", run: 2, value: failed });
    expect(second.instanceId).toBe("run-2");
    const succeeded = { status: "succeeded", context: { ask: { due: "1.00" } } };
    expect(
      (await store.putCached({ ...entry, instanceId: "run-3", run: 3, value: succeeded }))
        .instanceId,
    ).toBe("run-3");
    expect(
      (await store.putCached({ ...entry, instanceId: "run-2", run: 2, value: failed })).instanceId,
    ).toBe("run-3");
    expect(
      (await store.putCached({ ...entry, instanceId: "run-4", run: 4, value: failed })).instanceId,
    ).toBe("run-3");
    expect(await store.getCached(entry.key, entry.storedAt)).toMatchObject({
      run: 3,
      value: succeeded,
    });
  });
});
