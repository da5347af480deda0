import { fileURLToPath } from "node:url";
import { codecFor } from "@capflow/core";
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
  type EndpointOptions,
  type ScriptedRequest,
  startMockFunder,
} from "@capflow/testkit";

/** Every message is `<message><head>…</head><body>…</body></message>` in GBK. */
const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });

/**
 * Cedar Bank (雪松银行, examples/cedar-bank): a host-to-host loan API in GBK XML, signed with
 * detached CMS (PKCS#7) signatures over the exact bytes of `<body>`, with certificates from the
 * bank's test CA; disbursement results by notification, with a query after the deadline.
 */
export const cedarBankFunder: FunderProfile = {
  dir: fileURLToPath(new URL(".", import.meta.url)),
  channel: "cedar-bank",
  behaviors: [
    {
      channel: "cedar-bank",
      behavior: "loan",
      callbacks: true,
      progressNotices: false,
      idempotentApply: false,
      canBeNothingDue: false,
      trial: false,
    },
  ],
  inputFor(_traits, key) {
    return {
      input: {
        loanNo: key,
        amount: "30000.00",
        termMonths: 12,
        purpose: "装修",
        customer: customerFor(key),
      },
    };
  },
  moneyCalls: {
    loan: (request) => request.path === "/h2h/loan",
  },
  async startMock({ cases, book, handler, clock, seed }) {
    const status = { approved: "LENT", declined: "LEND_FAILED", processing: "LENDING" };
    return startMockFunder({
      handler,
      codec: xml,
      charset: "gbk",
      clock,
      seed,
      callbacks: { attempts: 5, intervalMs: 2_000, timeoutMs: 30_000 },
      endpoints: {
        "POST /h2h/loan": {
          businessKey: byField("body.partnerLoanNo"),
          faults: faultRulesFor(book, cases, "apply"),
          answer: (request) => bookLoan(book, request, status),
        },
        "POST /h2h/bill": billEndpoint(new Map()),
        "POST /h2h/loan/query": {
          businessKey: byField("body.partnerLoanNo"),
          faults: faultRulesFor(book, cases, "query"),
          answer: (request) => answerQuery(book.query(request.businessKey), status),
        },
      },
    });
  },
};

/**
 * `POST /h2h/bill`: the bank's daily loan bill (an xlsx workbook) in base64, per `billDate`
 * (`yyyyMMdd`); `B001` while the bill of that date is not generated.
 */
export function billEndpoint(bills: ReadonlyMap<string, Buffer>): EndpointOptions {
  return {
    answer: (request) => {
      const billDate = String((request.body as { body?: { billDate?: unknown } }).body?.billDate);
      const file = bills.get(billDate);
      if (file === undefined) {
        return { body: { head: { code: "B001", msg: "账单未生成" }, body: { billDate } } };
      }
      return {
        body: {
          head: { code: "0000", msg: "成功" },
          body: {
            billDate,
            fileName: `LOAN_${billDate}.xlsx`,
            fileContent: file.toString("base64"),
          },
        },
      };
    },
  };
}

function bookLoan(
  book: FunderBook,
  request: ScriptedRequest,
  status: Record<Exclude<OrderState, "notFound">, string>,
): EndpointAnswer {
  const { refused } = book.book(request.businessKey);
  if (refused) return { body: { head: { code: "E001", msg: "报文校验失败" }, body: {} } };
  const key = request.businessKey;
  return {
    body: { head: { code: "0000", msg: "受理成功" }, body: { loanNo: `CB-${key}` } },
    callbacks: notificationsFor(book.planOf(key), (state, n) => ({
      path: "/callbacks/cedar-bank/loan.notify",
      delayMs: notificationDelayMs.final,
      body: {
        head: { txCode: "LOAN_NOTIFY" },
        // Everything the platform reads sits in the signed <body>, the notification's id too.
        body: {
          notifyId: `CN-${key}-${n}`,
          partnerLoanNo: key,
          loanNo: `CB-${key}`,
          status: state === "processing" ? status.processing : status[state],
          lendTime: "2026-01-15 10:30:00",
          remark: state === "declined" ? "放款失败：账户冻结" : "放款成功",
        },
      },
    })),
  };
}

function answerQuery(
  state: OrderState,
  status: Record<Exclude<OrderState, "notFound">, string>,
): EndpointAnswer {
  if (state === "notFound")
    return { body: { head: { code: "E404", msg: "订单不存在" }, body: {} } };
  return {
    body: {
      head: { code: "0000", msg: "查询成功" },
      body: {
        status: status[state],
        ...(state === "approved" ? { lendTime: "2026-01-15 10:30:00" } : {}),
      },
    },
  };
}
