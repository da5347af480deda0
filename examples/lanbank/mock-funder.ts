import { fileURLToPath } from "node:url";
import { jsonCodec } from "@capflow/core";
import {
  customerFor,
  type FunderBook,
  type FunderProfile,
  faultRulesFor,
  notificationDelayMs,
  notificationsFor,
  type OrderState,
} from "@capflow/example-demo";
import {
  byField,
  type EndpointAnswer,
  type ScriptedRequest,
  startMockFunder,
} from "@capflow/testkit";

/**
 * Lan Bank (蓝海银行, examples/lanbank): JSON with RSA signatures and an AES envelope; credit and
 * disbursement results by callback (with polling as a fallback), repayments after a trial
 * calculation, by polling.
 */
export const lanbankFunder: FunderProfile = {
  dir: fileURLToPath(new URL(".", import.meta.url)),
  channel: "lanbank",
  behaviors: [
    {
      channel: "lanbank",
      behavior: "credit",
      callbacks: true,
      progressNotices: false,
      idempotentApply: true,
      canBeNothingDue: false,
      trial: false,
    },
    {
      channel: "lanbank",
      behavior: "loan",
      callbacks: true,
      progressNotices: true,
      idempotentApply: false,
      canBeNothingDue: false,
      trial: false,
      share: 1.5,
    },
    {
      channel: "lanbank",
      behavior: "repay",
      callbacks: false,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: true,
      trial: true,
    },
  ],
  inputFor(traits, key) {
    const customer = customerFor(key);
    switch (traits.behavior) {
      case "credit":
        return {
          input: {
            applicationNo: key,
            productCode: "LB-CASH-12",
            amount: "50000.00",
            termMonths: 12,
            customer,
            riskFactors: { score: 712, channel: "app" },
          },
        };
      case "loan":
        return {
          input: {
            loanNo: key,
            creditNo: `C-${key}`,
            amount: "12500.00",
            termMonths: 12,
            purpose: "CONSUMPTION",
            customer,
          },
        };
      default:
        return {
          input: { repayNo: key, bankLoanNo: `BL-${key}`, repayType: "NORMAL", customer },
          aliases: [`BL-${key}`],
        };
    }
  },
  moneyCalls: {
    loan: (request) => request.path === "/loan/apply",
    repay: (request) => request.path === "/repay/apply",
  },
  // What is due on a repayment's loan, asked through the cache: cases whose trial has no fault.
  cachedQuery: {
    behavior: "repay-trial",
    interface: "repay.trial",
    inputFor: (scenarioCase) =>
      scenarioCase.behavior === "repay" &&
      scenarioCase.plan.fault === undefined &&
      !scenarioCase.plan.nothingDue
        ? { bankLoanNo: scenarioCase.input.bankLoanNo, repayType: "NORMAL" }
        : undefined,
  },
  async startMock({ cases, book, handler, clock, seed }) {
    const apply = faultRulesFor(book, cases, "apply");
    const query = faultRulesFor(book, cases, "query");
    const trial = faultRulesFor(book, cases, "trial");
    return startMockFunder({
      handler,
      codec: jsonCodec,
      clock,
      seed,
      callbacks: { attempts: 5, intervalMs: 2_000, timeoutMs: 30_000 },
      endpoints: {
        "POST /credit/apply": {
          businessKey: byField("applyNo"),
          faults: apply,
          answer: (request) =>
            bookOrder(book, request, { bankApplyNo: `LBA-${request.businessKey}` }, (state, n) => ({
              path: "/callbacks/lanbank/credit.result",
              delayMs: n === 1 ? notificationDelayMs.progress : notificationDelayMs.final,
              body: {
                notifyNo: `N-${request.businessKey}-${n}`,
                bizData: {
                  applyNo: request.businessKey,
                  creditStatus: state === "approved" ? "APPROVED" : "REJECTED",
                  creditLimit: 5_000_000,
                  expireDate: "20270101",
                },
              },
            })),
        },
        "POST /credit/query": {
          businessKey: byField("applyNo"),
          faults: query,
          answer: (request) =>
            answerQuery(book.query(request.businessKey), {
              status: "creditStatus",
              extra: { creditLimit: 5_000_000, expireDate: "20270101" },
              values: { approved: "APPROVED", declined: "REJECTED", processing: "PROCESSING" },
            }),
        },
        "POST /loan/apply": {
          businessKey: byField("outOrderNo"),
          faults: apply,
          answer: (request) =>
            bookOrder(book, request, { loanNo: `B-${request.businessKey}` }, (state, n) => ({
              path: "/callbacks/lanbank/loan.result",
              delayMs: n === 1 ? notificationDelayMs.progress : notificationDelayMs.final,
              body: {
                notifyNo: `N-${request.businessKey}-${n}`,
                bizData: {
                  outOrderNo: request.businessKey,
                  loanNo: `B-${request.businessKey}`,
                  loanStatus:
                    state === "approved" ? "SUCCESS" : state === "declined" ? "FAIL" : "PROCESSING",
                  loanTime: "20260115103000",
                  ...(state === "declined" ? { failReason: "card frozen" } : {}),
                },
              },
            })),
        },
        "POST /loan/query": {
          businessKey: byField("outOrderNo"),
          faults: query,
          answer: (request) =>
            answerQuery(book.query(request.businessKey), {
              status: "loanStatus",
              extra: { loanNo: `B-${request.businessKey}`, loanTime: "20260115103000" },
              values: { approved: "SUCCESS", declined: "FAIL", processing: "PROCESSING" },
            }),
        },
        "POST /repay/trial": {
          businessKey: byField("loanNo"),
          faults: trial,
          answer: (request) => {
            const nothingDue = book.planOf(request.businessKey).nothingDue;
            return {
              body: {
                respCode: "0000",
                respMsg: "success",
                data: nothingDue
                  ? { totalAmt: 0, principalAmt: 0, interestAmt: 0, penaltyAmt: 0 }
                  : { totalAmt: 105_000, principalAmt: 100_000, interestAmt: 5_000, penaltyAmt: 0 },
              },
            };
          },
        },
        "POST /repay/apply": {
          businessKey: byField("outRepayNo"),
          faults: apply,
          answer: (request) => bookOrder(book, request, { repayNo: `R-${request.businessKey}` }),
        },
        "POST /repay/query": {
          businessKey: byField("outRepayNo"),
          faults: query,
          answer: (request) =>
            answerQuery(book.query(request.businessKey), {
              status: "repayStatus",
              extra: { repayTime: "20260215090000" },
              values: { approved: "SUCCESS", declined: "FAIL", processing: "PROCESSING" },
            }),
        },
      },
    });
  },
};

/** An apply call: booked (with its notifications) or refused, in Lan Bank's spelling. */
function bookOrder(
  book: FunderBook,
  request: ScriptedRequest,
  data: Record<string, unknown>,
  notice?: Parameters<typeof notificationsFor>[1],
): EndpointAnswer {
  const { refused } = book.book(request.businessKey);
  if (refused) return { body: { respCode: "2003", respMsg: "borrower not eligible" } };
  return {
    body: { respCode: "0000", respMsg: "accepted", data },
    ...(notice === undefined
      ? {}
      : { callbacks: notificationsFor(book.planOf(request.businessKey), notice) }),
  };
}

function answerQuery(
  state: OrderState,
  spelling: {
    status: string;
    extra: Record<string, unknown>;
    values: Record<Exclude<OrderState, "notFound">, string>;
  },
): EndpointAnswer {
  if (state === "notFound") return { body: { respCode: "3004", respMsg: "order not found" } };
  return {
    body: {
      respCode: "0000",
      respMsg: "success",
      data: { [spelling.status]: spelling.values[state], ...spelling.extra },
    },
  };
}
