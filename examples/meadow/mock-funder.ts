import { fileURLToPath } from "node:url";
import { codecFor, formCodec } from "@capflow/core";
import {
  type CallRole,
  customerFor,
  type FunderProfile,
  faultRulesFor,
  type OrderState,
  sniffingCodec,
} from "@capflow/example-demo";
import { type EndpointAnswer, type ScriptedRequest, startMockFunder } from "@capflow/testkit";

/**
 * Meadow Consumer Finance (绿野消费金融, examples/meadow): one gateway URL with a `service`
 * parameter, form (and XML) requests signed with MD5 and a shared key, XML answers, and no
 * callbacks: every result is polled.
 */
export const meadowFunder: FunderProfile = {
  dir: fileURLToPath(new URL(".", import.meta.url)),
  channel: "meadow",
  behaviors: [
    {
      channel: "meadow",
      behavior: "credit",
      callbacks: false,
      progressNotices: false,
      idempotentApply: true,
      canBeNothingDue: false,
      trial: false,
    },
    {
      channel: "meadow",
      behavior: "loan",
      callbacks: false,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: false,
      trial: false,
      share: 1.5,
    },
    {
      channel: "meadow",
      behavior: "repay",
      callbacks: false,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: true,
      trial: false,
    },
  ],
  inputFor(traits, key, plan) {
    const customer = customerFor(key);
    switch (traits.behavior) {
      case "credit":
        return { input: { applicationNo: key, amount: "30000.00", termMonths: 6, customer } };
      case "loan":
        return {
          input: {
            loanNo: key,
            creditNo: `MA-${key}`,
            amount: "8000.00",
            termMonths: 6,
            purpose: "家电 & 家具",
            customer,
          },
        };
      default:
        return {
          input: {
            repayNo: key,
            partnerLoanNo: `ML-${key}`,
            repayType: "NORMAL",
            amount: plan.nothingDue ? "0.00" : "1368.50",
            period: 3,
            customer,
          },
        };
    }
  },
  moneyCalls: {
    loan: (request) => request.query.service === "loan.apply",
    repay: (request) => request.query.service === "repay.apply",
  },
  async startMock({ cases, book, handler, clock, seed }) {
    const roleOf = (request: ScriptedRequest): CallRole =>
      request.query.service?.endsWith(".query") === true ? "query" : "apply";
    const answer = (request: ScriptedRequest): EndpointAnswer => {
      const service = request.query.service ?? "";
      if (roleOf(request) === "apply") {
        const { refused } = book.book(request.businessKey);
        if (refused) return { body: { ret_code: "PARAM_ERROR", ret_msg: "refused" } };
        const number = `M-${request.businessKey}`;
        return {
          body: {
            ret_code: "SUCCESS",
            ret_msg: "OK",
            ...(service === "credit.apply" ? { apply_no: number } : {}),
            ...(service === "loan.apply" ? { loan_no: number } : {}),
          },
        };
      }
      return answerQuery(service, book.query(request.businessKey), `M-${request.businessKey}`);
    };
    return startMockFunder({
      handler,
      codec: sniffingCodec(
        formCodec,
        codecFor("xml", {
          xml: { root: "request", attributes: { version: "2.1" }, cdata: ["loan_use"] },
        }),
      ),
      answerCodec: codecFor("xml", { xml: { root: "response" } }),
      clock,
      seed,
      businessKey: (request) => {
        const body = request.body as Record<string, unknown> | undefined;
        const key = body?.out_apply_no ?? body?.out_loan_no ?? body?.out_repay_no;
        return typeof key === "string" ? key : undefined;
      },
      endpoints: {
        "POST /gateway.do": {
          answer,
          faults: [
            ...faultRulesFor(book, cases, "apply", roleOf),
            ...faultRulesFor(book, cases, "query", roleOf),
          ],
        },
      },
    });
  },
};

const queryFields: Record<
  string,
  {
    status: string;
    values: Record<Exclude<OrderState, "notFound">, string>;
    extra: (number: string) => Record<string, unknown>;
  }
> = {
  "credit.query": {
    status: "audit_status",
    values: { approved: "PASS", declined: "REFUSE", processing: "AUDITING" },
    extra: () => ({ credit_amount: "30000.00" }),
  },
  "loan.query": {
    status: "loan_status",
    values: { approved: "LOAN_SUCCESS", declined: "LOAN_FAIL", processing: "LOANING" },
    extra: (number) => ({ loan_no: number, loan_time: "2026-01-15 10:30:00" }),
  },
  "repay.query": {
    status: "repay_status",
    values: { approved: "REPAY_SUCCESS", declined: "REPAY_FAIL", processing: "REPAYING" },
    extra: () => ({ repay_time: "2026-02-15 09:00:00" }),
  },
};

function answerQuery(service: string, state: OrderState, number: string): EndpointAnswer {
  const fields = queryFields[service];
  if (fields === undefined || state === "notFound") {
    return { body: { ret_code: "ORDER_NOT_EXIST", ret_msg: "no such order" } };
  }
  const extra = state === "approved" ? fields.extra(number) : {};
  return {
    body: {
      ret_code: "SUCCESS",
      ret_msg: "OK",
      [fields.status]: fields.values[state],
      ...extra,
      ...(state === "declined" ? { refuse_msg: "policy" } : {}),
    },
  };
}
