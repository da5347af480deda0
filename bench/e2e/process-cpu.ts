/**
 * Where the machine's CPU went during one run of the end-to-end bench, from Linux's /proc: the
 * CPU time (user + system) of the funder process, of all PostgreSQL server processes, of
 * redis-server and of every other process (`/proc/<pid>/stat`), and the whole machine's busy and
 * total time (`/proc/stat`). This process's own CPU is taken with `process.cpuUsage()` by the
 * bench. On a machine without /proc every reading is undefined and the bench leaves these
 * figures out.
 *
 * Redis is found by process name, so other work on the same server counts too. PostgreSQL's
 * processes are the ones the bench names (its connections' backends, found by their
 * `application_name`, and the server's background processes: WAL writer, checkpointer …); other
 * work's backends count as other processes. Without those pids, every PostgreSQL process counts.
 * A process that exits during the run takes its time with it (the pipelines' pools stay open);
 * that time, and interrupts no process was charged for, is the machine's busy time that none of
 * the figures holds.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times: `getconf CLK_TCK`, 100 on Linux when that fails. */
const ticksPerSecond = (() => {
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

const postgresNames = ["postgres", "postmaster"];
const redisNames = ["redis-server"];

export interface CpuSnapshot {
  /** Every process's name, start time (ticks since boot) and CPU time. */
  processes: Map<number, ProcessReading>;
  /** The machine's busy and total ticks over all cores. */
  machineBusy: number;
  machineTotal: number;
}

/** CPU of one run, in microseconds per step, and the machine's busy share (0–1). */
export interface CpuSplit {
  funderUsPerStep: number;
  postgresUsPerStep: number;
  redisUsPerStep: number;
  /** Every other process but this one: on a shared machine, other people's work. */
  othersUsPerStep: number;
  /** All cores' busy time, whoever spent it. */
  machineUsPerStep: number;
  machineBusyShare: number;
}

interface ProcessReading {
  name: string;
  startedAt: number;
  /** CPU time in ticks, fractional when read from schedstat. */
  ticks: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Fields 2 (name), 22 (start time), 14 and 15 (utime, stime) of one process's stat line. utime
 * and stime are whole ticks per process: a PostgreSQL backend that ran 0.6 ms reads as 0 or 1
 * tick, and the bench's 30-odd backends would add up to noise. PostgreSQL's and Redis' processes
 * do their work on one thread, so for them the main thread's run time in nanoseconds
 * (`/proc/<pid>/schedstat`, first field) is read instead where the kernel has it.
 */
function processTicks(pid: string): ProcessReading | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const close = stat.lastIndexOf(")");
  const name = stat.slice(stat.indexOf("(") + 1, close);
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15, starttime field 22.
  let ticks = Number(fields[11]) + Number(fields[12]);
  if (postgresNames.includes(name) || redisNames.includes(name)) {
    const runNs = Number(readText(`/proc/${pid}/schedstat`)?.split(" ")[0]);
    if (Number.isFinite(runNs)) ticks = (runNs / 1e9) * ticksPerSecond;
  }
  return { name, startedAt: Number(fields[19]), ticks };
}

/** A reading now, or undefined without /proc. */
export function readCpuSnapshot(): CpuSnapshot | undefined {
  const machine = readText("/proc/stat")?.split("\n")[0];
  if (!machine?.startsWith("cpu ")) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice).
  const times = machine.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (times[3] ?? 0) + (times[4] ?? 0);
  const total = times.reduce((sum, value) => sum + value, 0);
  const processes = new Map<number, ProcessReading>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const reading = processTicks(entry);
    if (reading) processes.set(Number(entry), reading);
  }
  return { processes, machineBusy: total - idle, machineTotal: total };
}

/**
 * Ticks spent between two readings by the processes `which` picks. A process is the same when its
 * pid and start time are (its name changes when it execs or sets its title); one started between
 * the readings counts whole.
 */
function spent(
  before: CpuSnapshot,
  after: CpuSnapshot,
  which: (pid: number, name: string) => boolean,
): number {
  let ticks = 0;
  for (const [pid, { name, startedAt, ticks: now }] of after.processes) {
    if (!which(pid, name)) continue;
    const then = before.processes.get(pid);
    ticks += now - (then?.startedAt === startedAt ? then.ticks : 0);
  }
  return ticks;
}

export interface BenchProcesses {
  funderPid: number | undefined;
  /** The PostgreSQL processes that worked for the bench; undefined: all of PostgreSQL's. */
  postgresPids: ReadonlySet<number> | undefined;
}

export function cpuSplitBetween(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
  { funderPid, postgresPids }: BenchProcesses,
  steps: number,
): CpuSplit | undefined {
  if (!before || !after || funderPid === undefined || !after.processes.has(funderPid)) {
    return undefined;
  }
  const perStep = (ticks: number) => (ticks * 1_000_000) / ticksPerSecond / steps;
  const machineTotal = after.machineTotal - before.machineTotal;
  const machineBusy = after.machineBusy - before.machineBusy;
  const isPostgres = (pid: number, name: string) =>
    postgresPids ? postgresPids.has(pid) : postgresNames.includes(name);
  return {
    funderUsPerStep: perStep(spent(before, after, (pid) => pid === funderPid)),
    postgresUsPerStep: perStep(spent(before, after, isPostgres)),
    redisUsPerStep: perStep(spent(before, after, (_, name) => redisNames.includes(name))),
    othersUsPerStep: perStep(
      spent(
        before,
        after,
        (pid, name) =>
          pid !== funderPid &&
          pid !== process.pid &&
          !isPostgres(pid, name) &&
          !redisNames.includes(name),
      ),
    ),
    machineUsPerStep: perStep(machineBusy),
    machineBusyShare: machineTotal > 0 ? machineBusy / machineTotal : 0,
  };
}
