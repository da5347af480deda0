import type { ChannelDefinition } from "../definition/types.ts";

/**
 * When a channel takes business: service windows, the daily cut-off (日切), holidays with
 * make-up working days. Routing asks it before choosing a channel and leaves a closed one out.
 * The default calendar is always open; a calendar implementation plugs in here.
 */
export interface ChannelCalendar {
  isOpen(channel: string, at: number): Promise<CalendarAnswer> | CalendarAnswer;
  /**
   * Whether a call (or poll) to an interface may be sent now. Closed: the step waits and runs
   * again at `until` (the next opening), or, `expired`, fails unsent (`CALENDAR_CUTOFF_EXPIRED`).
   * Without it every call is sent. Asked with `kind: "callback"` (the callback's name as
   * `interfaceName`), whether a stored notification may be applied now: closed, it waits in the
   * inbox until `until`.
   */
  gate?(request: CallGateRequest): Promise<CallGate> | CallGate;
  /**
   * The latest cut-off (日切) at or before `at` at which calls of this interface still waiting
   * expire (`atCutoff: "expire"`, the cut-off rule applying to the interface); undefined when
   * they roll to the next opening or the channel has no cut-off. With working days in force for
   * the interface, only a working day's cut-off counts (none on a weekend or a holiday). The start
   * queue expires the starts queued before it.
   */
  expiringCutoff?(request: CutoffRequest): number | undefined;
}

/** A call (or poll) to an interface at an instant, as `expiringCutoff` judges it. */
export type CutoffRequest = Omit<CallGateRequest, "heldSince">;

export interface CallGateRequest {
  /** The channel's definition as it applies now (future values included). */
  channel: ChannelDefinition;
  /** The interface called or polled, or the callback whose notification is applied. */
  interfaceName: string;
  kind: "call" | "poll" | "callback";
  at: number;
  /** When the calendar first held this call back (its last wait), if it did. */
  heldSince?: number;
}

export type CallGate =
  | { open: true }
  | { open: false; until: number; reason: string }
  | { open: false; expired: true; reason: string };

export type CalendarAnswer = { open: true } | { open: false; reason: string };

/** Every channel open at every time: the calendar when none is configured. */
export const alwaysOpenCalendar: ChannelCalendar = {
  isOpen: () => ({ open: true }),
};
