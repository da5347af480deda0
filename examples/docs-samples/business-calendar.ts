import {
  BusinessCalendar,
  type ChannelDefinition,
  createEngine,
  loadHolidaySchedules,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { openStore, pushDefinitions } from "@capflow/store-knex";

const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();

// Lan Bank takes applications 00:30-23:30 on China's working days; its day ends at 23:30 (日切),
// when applications still waiting expire. Loan queries run at any time.
const lanbank: ChannelDefinition = {
  code: "lanbank",
  name: "Lan Bank",
  baseUrl: "https://openapi.lanbank.example",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {
    "loan.apply": { method: "POST", path: "/loan/apply" },
    "loan.query": { method: "POST", path: "/loan/query" },
  },
  calendar: {
    serviceWindows: ["00:30-23:30"],
    workingDaysOnly: true,
    holidays: "cn",
    cutoff: "23:30",
    atCutoff: "expire",
    interfaces: { "loan.query": [] },
  },
};
await pushDefinitions(db, { channels: [lanbank] }); // as `capflow push` does with its file

// `cn` 2026 is built in; later years are files in the same format, read at start (no network).
const holidays = await loadHolidaySchedules(process.argv.slice(2)); // e.g. calendars/cn-2027.json
const calendar = new BusinessCalendar({
  definitions: db.definitions,
  holidays,
  onUncoveredYear: ({ schedule, year }) =>
    console.warn(`no ${schedule} holidays for ${year}: judged Monday to Friday`),
});
// The engine holds calls outside the calendar: not sent, due again when the window opens.
export const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
  calendar,
});

for (const local of [
  "2026-09-30T10:00",
  "2026-09-30T23:45",
  "2026-10-02T10:00",
  "2026-10-10T10:00",
]) {
  const answer = await calendar.isOpen("lanbank", Date.parse(`${local}:00+08:00`));
  console.log(`${local} ${answer.open ? "open" : `closed: ${answer.reason}`}`);
}
await db.close();
