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
 * Jade Trust (翡翠信托, examples/jade-trust): JSON with SM2 signatures and an SM4 envelope;
 * disbursement and repayment results by callback, with a query after the deadline.
 */
export const jadeTrustFunder: FunderProfile = {
  dir: fileURLToPath(new URL(".", import.meta.url)),
  channel: "jade-trust",
  behaviors: [
    {
      channel: "jade-trust",
      behavior: "loan",
      callbacks: true,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: false,
      trial: false,
    },
    {
      channel: "jade-trust",
      behavior: "repay",
      callbacks: true,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: false,
      trial: false,
    },
  ],
  inputFor(traits, key) {
    const customer = customerFor(key);
    if (traits.behavior === "loan") {
      return {
        input: {
          loanNo: key,
          productCode: "JT-CONSUMER-24",
          amount: "20000.00",
          termMonths: 24,
          annualRate: "0.0720",
          customer,
        },
      };
    }
    return {
      input: {
        repayNo: key,
        trustLoanNo: `T-${key}`,
        repayType: "NORMAL",
        period: 2,
        amount: "912.40",
        customer,
      },
    };
  },
  moneyCalls: {
    loan: (request) => request.path === "/v1/loans",
    repay: (request) => request.path === "/v1/repayments",
  },
  async startMock({ cases, book, handler, clock, seed }) {
    const apply = faultRulesFor(book, cases, "apply");
    const query = faultRulesFor(book, cases, "query");
    const loanStatus = { approved: "LENT", declined: "LEND_FAILED", processing: "LENDING" };
    const repayStatus = { approved: "REPAID", declined: "REPAY_FAILED", processing: "REPAYING" };
    return startMockFunder({
      handler,
      codec: jsonCodec,
      clock,
      seed,
      callbacks: { attempts: 5, intervalMs: 2_000, timeoutMs: 30_000 },
      endpoints: {
        "POST /v1/loans": {
          businessKey: byField("partnerLoanNo"),
          faults: apply,
          answer: (request) =>
            bookOrder(book, request, { loanNo: `T-${request.businessKey}` }, (state, n) => ({
              path: "/callbacks/jade-trust/loan.notify",
              delayMs: notificationDelayMs.final,
              body: {
                notifyId: `JN-${request.businessKey}-${n}`,
                data: {
                  partnerLoanNo: request.businessKey,
                  loanNo: `T-${request.businessKey}`,
                  status: state === "processing" ? loanStatus.processing : loanStatus[state],
                  lendTime: "2026-01-15 10:30:00",
                  contractNo: `JC-${request.businessKey}`,
                },
              },
            })),
        },
        "POST /v1/loans/query": {
          businessKey: byField("partnerLoanNo"),
          faults: query,
          answer: (request) =>
            answerQuery(book.query(request.businessKey), loanStatus, {
              loanNo: `T-${request.businessKey}`,
              lendTime: "2026-01-15 10:30:00",
            }),
        },
        "POST /v1/repayments": {
          businessKey: byField("partnerRepayNo"),
          faults: apply,
          answer: (request) =>
            bookOrder(book, request, { repayNo: `TR-${request.businessKey}` }, (state, n) => ({
              path: "/callbacks/jade-trust/repay.notify",
              delayMs: notificationDelayMs.final,
              body: {
                notifyId: `JR-${request.businessKey}-${n}`,
                data: {
                  partnerRepayNo: request.businessKey,
                  status: state === "processing" ? repayStatus.processing : repayStatus[state],
                  repayTime: "2026-02-15 09:00:00",
                },
              },
            })),
        },
        "POST /v1/repayments/query": {
          businessKey: byField("partnerRepayNo"),
          faults: query,
          answer: (request) =>
            answerQuery(book.query(request.businessKey), repayStatus, {
              repayTime: "2026-02-15 09:00:00",
            }),
        },
      },
    });
  },
};

function bookOrder(
  book: FunderBook,
  request: ScriptedRequest,
  result: Record<string, unknown>,
  notice: Parameters<typeof notificationsFor>[1],
): EndpointAnswer {
  const { refused } = book.book(request.businessKey);
  if (refused) return { body: { code: "A0400", message: "invalid request" } };
  return {
    body: { code: "00000", message: "accepted", result },
    callbacks: notificationsFor(book.planOf(request.businessKey), notice),
  };
}

function answerQuery(
  state: OrderState,
  values: Record<Exclude<OrderState, "notFound">, string>,
  extra: Record<string, unknown>,
): EndpointAnswer {
  if (state === "notFound") return { body: { code: "A0404", message: "not found" } };
  return {
    body: {
      code: "00000",
      message: "OK",
      result: { status: values[state], ...(state === "approved" ? extra : {}) },
    },
  };
}
