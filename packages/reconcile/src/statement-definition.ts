import type { BodyFormat, MessageTemplate } from "@capflow/core";

/**
 * A statement definition (`*.statement.json`, next to the channel and behavior files): where a
 * funder's daily statement comes from, how its bytes are laid out, and how each line maps onto
 * capflow's instances. The JSON Schema is `schema/statement.schema.json`; {@link loadStatements}
 * checks files against it.
 */

/** Which of our statuses a funder's status means. Anything else never matches. */
export type OurStatus = "succeeded" | "failed" | "active" | "waiting" | "manual" | "cancelled";

/** Where the file comes from. `{yyyyMMdd}`, `{yyyy-MM-dd}` (any luxon format) in paths and URLs take the business date. */
export type StatementSource =
  | { kind: "file"; path: string }
  | {
      kind: "http";
      url: string;
      /** Extra request headers; values may be secret references (`env:NAME`, `file:path`). */
      headers?: Record<string, string>;
      /** Waiting for the answer, and between two chunks of it. Default 60 seconds. */
      timeoutMs?: number;
      /** The whole download, from asking to the last byte. Default 15 minutes. */
      downloadTimeoutMs?: number;
      /** Largest file accepted. Default 2 GiB. */
      maxBytes?: number;
    }
  | {
      kind: "sftp";
      host: string;
      port?: number;
      username: string;
      /** A secret reference to the private key (`file:keys/sftp_ed25519`, `env:SFTP_KEY`). */
      privateKey: string;
      /** A secret reference to the key's passphrase, when it has one. */
      passphrase?: string;
      /**
       * The server's host key, SHA-256 fingerprint as OpenSSH prints it (`SHA256:…`). Required:
       * a statement is never fetched from a server whose key is not pinned
       * (`ssh-keyscan HOST | ssh-keygen -lf -` prints it).
       */
      hostKey?: string;
      path: string;
      /** Connecting, up to the end of the SSH handshake. Default 30 seconds. */
      timeoutMs?: number;
      /** The whole download, from opening the file to its last byte. Default 15 minutes. */
      downloadTimeoutMs?: number;
      /** Largest file accepted. Default 2 GiB. */
      maxBytes?: number;
    }
  | {
      /** One of the channel's own interfaces answers with the file (its crypto, through the engine). */
      kind: "interface";
      /** The interface's name in the channel (`bill.download`); it must be idempotent. */
      interface: string;
      /**
       * Values the request reads as `{{input.<name>}}`; `{yyyyMMdd}` in them is the business date.
       * `input.businessDate` (`yyyy-MM-dd`) is always there.
       */
      params?: Record<string, string>;
      /** The request, as a step's. Default: `params` as a JSON body. */
      request?: MessageTemplate;
      /** The answer's format. Default: the request's. */
      responseFormat?: BodyFormat;
      /**
       * Where the file is in the answer (a CEL expression over `body`, `headers`): base64 bytes,
       * text (written in the statement's encoding), or a URL to download.
       */
      file: { base64: string } | { text: string } | { url: string; maxBytes?: number };
      /** The file's name in runs; `{yyyyMMdd}` takes the date. Default `<interface>-<date>`. */
      name?: string;
    };

/** A column: by name (a delimited file's or sheet's header, a fixed-width field) or by 0-based index. */
export type ColumnRef = string | number;

export type StatementFormat =
  | {
      kind: "delimited";
      /** One character or more: `,`, `|`, `\t`, `||`. Default `,`. */
      delimiter?: string;
      /** Default `"`; `false` for files that never quote. */
      quote?: string | false;
      /** Longest line (a record, with quoted line breaks) read, in bytes of the file's encoding; a longer one fails the file. Default 64 KiB. */
      maxLineBytes?: number;
    }
  | {
      kind: "fixed-width";
      /** Field name -> [start, length], 0-based, counted in `unit`. */
      fields: Record<string, [number, number]>;
      /** Bytes in the file's encoding (what bank specifications count; a GBK character is 2) or characters. Default bytes. */
      unit?: "bytes" | "characters";
      /** Longest line read, in bytes; a longer one fails the file. Default 64 KiB. */
      maxLineBytes?: number;
    }
  | {
      kind: "xlsx";
      /** Sheet name or 1-based position. Default the first sheet. */
      sheet?: string | number;
    };

/** Totals a header or footer line carries, checked against the lines. */
export interface DeclaredTotals {
  /** Column (delimited, xlsx) holding the line count. */
  count?: ColumnRef;
  /** Column holding the sum of amounts, in the statement's amount unit. */
  amount?: ColumnRef;
  /** Or a regular expression with named groups `count` and `amount`, matched against the line's text. */
  pattern?: string;
}

export interface StatementLayout {
  /** Lines before the data (titles, a totals line); not counting the column names. Default 0. */
  lines: number;
  /** Which of those lines (0-based among them) carries totals, and how to read them. */
  totals?: DeclaredTotals & { line?: number };
}

export interface StatementDefinition {
  $schema?: string;
  channel: string;
  /** Unique within the channel: `loan-daily`. */
  code: string;
  description?: string;
  /** Behaviors whose instances the statement reports. */
  behaviors: string[];
  /** The funder's time zone (IANA): business dates, timestamps and the schedule are read in it. */
  timeZone: string;
  source: StatementSource;
  compression?: "none" | "gzip" | "zip";
  /** With zip: a file name pattern (`*.csv`) picking the entry; default the only file. */
  zipEntry?: string;
  /** `UTF-8` (default), `GBK`, `GB18030`, or anything iconv-lite reads. */
  encoding?: string;
  format: StatementFormat;
  header?: StatementLayout;
  /** A line of column names after the header lines. Default true for delimited and xlsx. */
  columnNames?: boolean;
  footer?: StatementLayout;
  columns: {
    businessKey?: ColumnRef;
    partnerReference?: ColumnRef;
    amount: ColumnRef;
    status?: ColumnRef;
    occurredAt?: ColumnRef;
    /** A column telling which behavior a line belongs to, mapped by `kinds`. */
    kind?: ColumnRef;
  };
  amount?: {
    /** `yuan` (`1500.00`) or `fen` (`150000`). Default yuan. */
    unit?: "yuan" | "fen";
  };
  /**
   * The funder's status values -> ours; required with a status column. A line whose status is not
   * listed is malformed (never compared as text with ours).
   */
  statuses?: Record<string, OurStatus>;
  /**
   * Without a status column, the status every line stands for. Default `succeeded`: such a
   * statement lists what the funder processed, so a line for an instance we hold as failed (or
   * still waiting) is a status mismatch.
   */
  impliedStatus?: OurStatus;
  /** The kind column's values -> behavior codes. */
  kinds?: Record<string, string>;
  /**
   * How far before the business date's start and after its end a line's `occurredAt`, and the
   * instance a line matches (its `ours.date`), may fall and still be the date's (a funder's
   * cut-off, clocks apart): `{ "before": "1h" }`. Default none: anything outside is `other-day`.
   */
  dayMargin?: { before?: string; after?: string };
  /** How `occurredAt` is written (a luxon format, `yyyyMMddHHmmss`), in `timeZone`. Default ISO 8601. */
  timestampFormat?: string;
  /** How our side is read. */
  ours?: {
    /** Path of the amount in the instance: `input.amount`. Default `input.amount`. */
    amount?: string;
    amountUnit?: "yuan" | "fen";
    /** Path of the funder's reference: `context.bankLoanNo`. */
    partnerReference?: string;
    /** Which instant places an instance on a business date. Default `updatedAt` (when it settled). */
    date?: "createdAt" | "updatedAt";
    /** Our instances the funder must report: these statuses on the date. Default `["succeeded"]`. */
    expect?: OurStatus[];
  };
  /**
   * Run daily once the funder's file is out: `"02:30"` in `timeZone`, for the previous day; the
   * `lookBackDays` (default 7) dates up to it are checked until each has a completed run.
   */
  schedule?: { after: string; retryEvery?: string; lookBackDays?: number };
}
