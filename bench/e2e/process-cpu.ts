/**
 * Where the machine's CPU went during one run of the end-to-end bench, from Linux's /proc: the
 * CPU time (user + system) of the funder process, of all PostgreSQL server processes and of
 * redis-server (`/proc/<pid>/stat`), and the whole machine's busy and total time (`/proc/stat`).
 * This process's own CPU is taken with `process.cpuUsage()` by the bench. On a machine without
 * /proc every reading is undefined and the bench leaves these figures out.
 *
 * PostgreSQL and Redis are found by process name, so other work on the same servers counts too;
 * a backend that exits during the run takes its time with it (the pipelines' pools stay open).
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

export interface CpuSnapshot {
  /** Ticks (user + system) per pid, of the processes named below. */
  funder: number;
  postgres: Map<number, number>;
  redis: Map<number, number>;
  /** The machine's busy and total ticks over all cores. */
  machineBusy: number;
  machineTotal: number;
}

/** CPU of one run, in microseconds per step, and the machine's busy share (0–1). */
export interface CpuSplit {
  funderUsPerStep: number;
  postgresUsPerStep: number;
  redisUsPerStep: number;
  /** All cores' busy time, whoever spent it (these processes, the kernel, other work). */
  machineUsPerStep: number;
  machineBusyShare: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** utime + stime of one process, in ticks (fields 14 and 15, counted after the `(comm)`). */
function processTicks(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

function ticksOfProcessesNamed(names: readonly string[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const name = readText(`/proc/${entry}/comm`)?.trim();
    if (name === undefined || !names.includes(name)) continue;
    const value = processTicks(Number(entry));
    if (value !== undefined) ticks.set(Number(entry), value);
  }
  return ticks;
}

/** A reading now, or undefined without /proc. */
export function readCpuSnapshot(funderPid: number | undefined): CpuSnapshot | undefined {
  const machine = readText("/proc/stat")?.split("\n")[0];
  if (!machine?.startsWith("cpu ") || funderPid === undefined) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice).
  const times = machine.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (times[3] ?? 0) + (times[4] ?? 0);
  const total = times.reduce((sum, value) => sum + value, 0);
  const funder = processTicks(funderPid);
  if (funder === undefined) return undefined;
  return {
    funder,
    postgres: ticksOfProcessesNamed(["postgres", "postmaster"]),
    redis: ticksOfProcessesNamed(["redis-server"]),
    machineBusy: total - idle,
    machineTotal: total,
  };
}

/** Ticks spent between two readings by the processes of `after` (those new since count whole). */
function spent(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, value] of after) ticks += value - (before.get(pid) ?? 0);
  return ticks;
}

export function cpuSplitBetween(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
  steps: number,
): CpuSplit | undefined {
  if (!before || !after) return undefined;
  const perStep = (ticks: number) => (ticks * 1_000_000) / ticksPerSecond / steps;
  const machineTotal = after.machineTotal - before.machineTotal;
  return {
    funderUsPerStep: perStep(after.funder - before.funder),
    postgresUsPerStep: perStep(spent(before.postgres, after.postgres)),
    redisUsPerStep: perStep(spent(before.redis, after.redis)),
    machineUsPerStep: perStep(after.machineBusy - before.machineBusy),
    machineBusyShare:
      machineTotal > 0 ? (after.machineBusy - before.machineBusy) / machineTotal : 0,
  };
}
