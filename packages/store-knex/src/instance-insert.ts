import type { NewInstance, NewStepLogEntry } from "@capflow/core";
import { jsonParam, nullableJsonParam, timeParam } from "./rows.ts";

/** Adds a binding and returns its placeholder, with an optional cast. */
export type Param = (value: unknown, cast?: string) => string;

/** A placeholder builder over a bindings array, for statements assembled from parts. */
export function parameters(): { bindings: unknown[]; param: Param } {
  const bindings: unknown[] = [];
  return {
    bindings,
    param: (value, cast = "") => {
      bindings.push(value);
      return `?${cast}`;
    },
  };
}

/** The column list and VALUES row of a new instance, in one place for every insert. */
export function instanceValues(
  instance: NewInstance,
  param: Param,
): { columns: string; values: string } {
  const columns = `id, channel, behavior, behavior_version, business_key, input, input_digest, step,
    status, context, snapshot, next_run_at, waiting_for, product, account, customer_ref,
    failover_of, routing, traceparent, upstream_client, created_at, updated_at`;
  const values = [
    param(instance.id),
    param(instance.channel),
    param(instance.behavior),
    param(instance.behaviorVersion, "::int"),
    param(instance.businessKey),
    param(jsonParam(instance.input), "::jsonb"),
    param(instance.inputDigest),
    param(instance.step),
    param(instance.status),
    param(jsonParam(instance.context), "::jsonb"),
    param(jsonParam(instance.snapshot), "::jsonb"),
    param(timeParam(instance.nextRunAt), "::timestamptz"),
    param(instance.waitingFor ?? null, "::text"),
    param(instance.product ?? null, "::text"),
    param(instance.account ?? null, "::text"),
    param(instance.customerRef ?? null, "::text"),
    param(instance.failoverOf ?? null, "::text"),
    param(nullableJsonParam(instance.routing), "::jsonb"),
    param(instance.traceparent ?? null, "::text"),
    param(instance.upstreamClient ?? null, "::text"),
    param(timeParam(instance.now), "::timestamptz"),
    param(timeParam(instance.now), "::timestamptz"),
  ].join(", ");
  return { columns, values };
}

/** The columns every step log insert writes, in this order. */
export const stepLogColumns = `id, instance_id, version, step, attempt, event, from_step, to_step,
  from_status, to_status, outcome, request, response, raw, error, actor, started_at, duration_ms,
  channel, interface`;

/** The step log columns and a SELECT list writing `log` for the instance row aliased `row`. */
export function stepLogSelect(
  logId: string,
  log: NewStepLogEntry,
  row: string,
  param: Param,
): { columns: string; select: string } {
  const columns = stepLogColumns;
  const select = [
    param(logId, "::uuid"),
    `${row}.id`,
    `${row}.version`,
    param(log.step, "::text"),
    param(log.attempt, "::int"),
    param(log.event, "::text"),
    param(log.fromStep ?? null, "::text"),
    param(log.toStep ?? null, "::text"),
    param(log.fromStatus ?? null, "::text"),
    param(log.toStatus ?? null, "::text"),
    param(log.outcome ?? null, "::text"),
    param(nullableJsonParam(log.request), "::jsonb"),
    param(nullableJsonParam(log.response), "::jsonb"),
    param(nullableJsonParam(log.raw), "::jsonb"),
    param(nullableJsonParam(log.error), "::jsonb"),
    param(nullableJsonParam(log.actor), "::jsonb"),
    param(timeParam(log.startedAt), "::timestamptz"),
    param(log.durationMs, "::float8"),
    // The channel only on partner calls: what the latency index holds (migration 0023).
    log.interface === undefined ? "NULL::text" : `${row}.channel`,
    param(log.interface ?? null, "::text"),
  ].join(", ");
  return { columns, select };
}
