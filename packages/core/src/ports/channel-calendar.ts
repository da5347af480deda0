/**
 * When a channel takes business: service windows, the daily cut-off (日切), holidays with
 * make-up working days. Routing asks it before choosing a channel and leaves a closed one out.
 * The default calendar is always open; a calendar implementation plugs in here.
 */
export interface ChannelCalendar {
  isOpen(channel: string, at: number): Promise<CalendarAnswer> | CalendarAnswer;
}

export type CalendarAnswer = { open: true } | { open: false; reason: string };

/** Every channel open at every time: the calendar when none is configured. */
export const alwaysOpenCalendar: ChannelCalendar = {
  isOpen: () => ({ open: true }),
};
