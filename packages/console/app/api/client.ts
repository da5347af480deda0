import type {
  ActionPreviewView,
  BehaviorGraphView,
  DefinitionsView,
  HistoryEntryView,
  InboxEntryView,
  InstanceAnswer,
  InstanceGraphAnswer,
  InstanceRoutingView,
  InstanceSummaryAnswer,
  InstanceSummaryView,
  IssuedTokenAnswer,
  ItemList,
  ListPage,
  NotificationResendAnswer,
  NotificationView,
  OverviewView,
  RevokedTokenAnswer,
  TokenView,
  VersionDiffView,
  WhoamiAnswer,
} from "@capflow/server";
import type {
  ActionKind,
  ActionPreview,
  BehaviorGraph,
  DefinitionsListing,
  HistoryEntry,
  InboxRow,
  InstanceDetail,
  InstanceRouting,
  InstanceSummary,
  IssuedToken,
  NotificationRow,
  Operator,
  Overview,
  Role,
  SearchPage,
  TokenRow,
  VersionDiff,
} from "./types.ts";

/** A refusal of the operator API, with its code and message (the message says what to do). */
export class OpsApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SearchQuery {
  businessKey?: string;
  channel?: string;
  behavior?: string;
  /** One status, `unsettled` (active or waiting) or `parked`. */
  status?: string;
  step?: string;
  olderThanMinutes?: string;
  /** The cursor of the page to show. */
  after?: string;
}

const ms = (iso: string) => Date.parse(iso);
const msOrNull = (iso: string | null) => (iso === null ? null : Date.parse(iso));

function summary(wire: InstanceSummaryView, timeZone: string): InstanceSummary {
  const unsettled = wire.status === "active" || wire.status === "waiting";
  return {
    id: wire.id,
    version: wire.version,
    channel: wire.channel,
    behavior: wire.behavior,
    behaviorVersion: wire.behaviorVersion,
    businessKey: wire.businessKey,
    step: wire.step,
    status: wire.status,
    attempt: wire.attempt,
    parked: unsettled && wire.nextRunAt === null && wire.lastError !== null,
    lastError: wire.lastError,
    nextRunAt: msOrNull(wire.nextRunAt),
    createdAt: ms(wire.createdAt),
    updatedAt: ms(wire.updatedAt),
    timeZone,
  };
}

function tokenRow(wire: TokenView): TokenRow {
  return {
    id: wire.id,
    name: wire.name,
    role: wire.role,
    createdAt: ms(wire.createdAt),
    createdBy: wire.createdBy,
    createdReason: wire.createdReason,
    revokedAt: msOrNull(wire.revokedAt),
    revokedBy: wire.revokedBy,
    revokedReason: wire.revokedReason,
    // Older servers do not send it.
    lastUsedAt: msOrNull(wire.lastUsedAt ?? null),
  };
}

function historyEntry(wire: HistoryEntryView): HistoryEntry {
  const entry: HistoryEntry = {
    id: wire.id,
    version: wire.version,
    step: wire.step,
    attempt: wire.attempt,
    event: wire.event,
    startedAt: ms(wire.at),
    durationMs: wire.durationMs,
  };
  if (wire.fromStep !== null) entry.fromStep = wire.fromStep;
  if (wire.toStep !== null) entry.toStep = wire.toStep;
  if (wire.fromStatus !== null) entry.fromStatus = wire.fromStatus;
  if (wire.toStatus !== null) entry.toStatus = wire.toStatus;
  if (wire.outcome !== null) entry.outcome = wire.outcome;
  if (wire.request !== null) entry.request = wire.request;
  if (wire.response !== null) entry.response = wire.response;
  if (wire.error !== null) entry.error = wire.error;
  if (wire.actor !== null) entry.actor = wire.actor;
  // Older servers send no `refusals` at all.
  if (wire.refusals != null)
    entry.refusals = { ...wire.refusals, lastAt: ms(wire.refusals.lastAt) };
  return entry;
}

/**
 * The operator API as the console calls it: the same endpoints users script against, with the
 * token as a Bearer credential. `base` is the server's root ("" when the console is served by it).
 */
export class OpsClient {
  #zones: Promise<Map<string, string>> | undefined;
  #refusal: OpsApiError | undefined;
  #onRefused: (() => void) | undefined;

  constructor(
    private readonly token: string,
    private readonly base = "",
  ) {}

  async whoami(): Promise<Operator> {
    const body = await this.#get<WhoamiAnswer>("/v1/ops/whoami");
    return body.operator;
  }

  overview(): Promise<Overview> {
    return this.#get<OverviewView>("/v1/ops/overview");
  }

  async search(query: SearchQuery): Promise<SearchPage> {
    const params = new URLSearchParams({ limit: "25" });
    const set = (name: string, value: string | undefined) => {
      if (value !== undefined && value.trim() !== "") params.set(name, value.trim());
    };
    set("channel", query.channel);
    set("behavior", query.behavior);
    set("cursor", query.after);
    let path = "/v1/ops/instances";
    if (query.status === "parked") {
      path = "/v1/ops/attention/parked";
    } else {
      set("businessKey", query.businessKey);
      set("step", query.step);
      set("status", query.status === "unsettled" ? "active,waiting" : query.status);
      if (query.olderThanMinutes && /^\d+$/.test(query.olderThanMinutes.trim())) {
        set("idleFor", `${query.olderThanMinutes.trim()}m`);
      }
    }
    const [body, zones] = await Promise.all([
      this.#get<ListPage<InstanceSummaryView>>(`${path}?${params}`),
      this.#channelZones(),
    ]);
    return {
      instances: body.items.map((item) => summary(item, zones.get(item.channel) ?? "UTC")),
      next: body.nextCursor,
    };
  }

  async instance(id: string): Promise<InstanceDetail> {
    const path = `/v1/ops/instances/${encodeURIComponent(id)}`;
    const [detail, inbox, graph, notifications, routing] = await Promise.all([
      this.#get<InstanceAnswer>(path),
      this.#get<ItemList<InboxEntryView>>(`${path}/inbox`),
      this.#get<InstanceGraphAnswer>(`${path}/graph`),
      this.notifications(id),
      this.routing(id),
    ]);
    const inboxRows: InboxRow[] = inbox.items.map((entry) => ({
      id: entry.id,
      callback: entry.callback,
      receivedAt: ms(entry.receivedAt),
      processedAt: msOrNull(entry.processedAt),
      instanceId: entry.instanceId,
    }));
    return {
      instance: { ...summary(detail.instance, graph.timeZone), context: detail.instance.context },
      history: detail.instance.history.map(historyEntry),
      inbox: inboxRows,
      notifications,
      graph: graph.graph,
      moveTargets: graph.moveTargets,
      routing,
    };
  }

  /** How a product's instance was routed; null for one started on a channel directly. */
  async routing(id: string): Promise<InstanceRouting | null> {
    let body: InstanceRoutingView;
    try {
      body = await this.#get(`/v1/ops/instances/${encodeURIComponent(id)}/routing`);
    } catch (error) {
      // A server from before this endpoint answers 404 with a code of its own.
      if (
        error instanceof OpsApiError &&
        error.status === 404 &&
        error.code !== "INSTANCE_NOT_FOUND"
      )
        return null;
      throw error;
    }
    if (body.routing === null || body.product === null) return null;
    return {
      product: body.product,
      rule: body.routing.rule,
      amount: body.routing.amount,
      candidates: body.routing.candidates,
      account: body.routing.account,
      failoverOf: body.failoverOf,
      failedOverTo: body.failedOverTo,
      tried: body.routing.failover?.tried ?? [],
      quotas: body.routing.quotas,
      business: body.business.map(({ id, channel, status, failoverOf }) => ({
        id,
        channel,
        status,
        failoverOf,
      })),
    };
  }

  /** The notifications for the upstream an instance caused; none where the store keeps no outbox. */
  async notifications(instanceId: string): Promise<NotificationRow[]> {
    const params = new URLSearchParams({ instanceId, limit: "50" });
    let body: ListPage<NotificationView>;
    try {
      body = await this.#get(`/v1/ops/notifications?${params}`);
    } catch (error) {
      if (error instanceof OpsApiError && error.status === 404) return [];
      throw error;
    }
    return body.items.map((item) => ({
      id: item.id,
      type: item.type,
      status: item.status,
      attempts: item.attempts,
      createdAt: ms(item.createdAt),
      deliveredAt: msOrNull(item.deliveredAt),
      lastError: item.lastError,
      resent: item.resent && { by: item.resent.by, at: ms(item.resent.at), why: item.resent.why },
    }));
  }

  /** Delivers a notification again (same event id), recorded in the instance's history. */
  resendNotification(id: string, reason: string): Promise<NotificationResendAnswer> {
    return this.#send(`/v1/ops/notifications/${encodeURIComponent(id)}/resend`, { reason });
  }

  /**
   * What the action would do now; a move with `callNotProcessed` as the move sent with it (the
   * funder confirmed it did not process the call whose outcome is unknown).
   */
  async preview(
    id: string,
    action: ActionKind,
    step?: string,
    callNotProcessed?: boolean,
  ): Promise<ActionPreview> {
    const body = await this.#send<ActionPreviewView>(
      `/v1/ops/instances/${encodeURIComponent(id)}/preview`,
      {
        action,
        ...(step ? { step } : {}),
        ...(action === "move" && callNotProcessed ? { callNotProcessed: true } : {}),
      },
    );
    return { ...body, nextRunAt: msOrNull(body.nextRunAt) };
  }

  /** Does what was previewed, to the instance as previewed (`expectedVersion`) or not at all. */
  act(
    id: string,
    action: ActionKind,
    reason: string,
    expectedVersion: number,
    step?: string,
    callNotProcessed?: boolean,
  ): Promise<InstanceSummaryAnswer> {
    return this.#send(`/v1/ops/instances/${encodeURIComponent(id)}/${action}`, {
      reason,
      expectedVersion,
      ...(action === "move" && step ? { step } : {}),
      ...(action === "move" && callNotProcessed ? { callNotProcessed: true } : {}),
    });
  }

  definitions(): Promise<DefinitionsListing> {
    return this.#get<DefinitionsView>("/v1/ops/definitions");
  }

  graph(channel: string, behavior: string, version: number): Promise<BehaviorGraph> {
    return this.#get<BehaviorGraphView>(
      `/v1/ops/definitions/${encodeURIComponent(channel)}/${encodeURIComponent(behavior)}/${version}/graph`,
    );
  }

  diff(channel: string, behavior: string, from: number, to: number): Promise<VersionDiff> {
    return this.#get<VersionDiffView>(
      `/v1/ops/definitions/${encodeURIComponent(channel)}/${encodeURIComponent(behavior)}/diff?from=${from}&to=${to}`,
    );
  }

  /** Every operator token, oldest first, with who made and revoked it, when and why (admins). */
  async tokens(): Promise<TokenRow[]> {
    const body = await this.#get<ItemList<TokenView>>("/v1/ops/tokens");
    return body.items.map(tokenRow);
  }

  /** Makes a token; the answer holds its secret, which the server never shows again (admins). */
  async makeToken(name: string, role: Role, reason: string): Promise<IssuedToken> {
    const { token, ...view } = await this.#send<IssuedTokenAnswer>("/v1/ops/tokens", {
      name,
      role,
      reason,
    });
    return { secret: token, token: tokenRow(view) };
  }

  /** Revokes a token: it is refused from its next request on; the reason is kept with it. */
  async revokeToken(id: string, reason: string): Promise<TokenRow> {
    const body = await this.#send<RevokedTokenAnswer>(
      `/v1/ops/tokens/${encodeURIComponent(id)}/revoke`,
      { reason },
    );
    return tokenRow(body.token);
  }

  /**
   * Called once when the server refuses the token (401: revoked or unknown). From then on this
   * client answers every call with that refusal without asking the server again, so pages still
   * shown cannot keep knocking with a dead token.
   */
  whenRefused(listener: () => void): void {
    this.#onRefused = listener;
  }

  /** Each channel's time zone, read once per sign-in. */
  #channelZones(): Promise<Map<string, string>> {
    this.#zones ??= this.definitions().then(
      (listing) => new Map(listing.channels.map((channel) => [channel.code, channel.timeZone])),
      () => new Map(),
    );
    return this.#zones;
  }

  #get<T>(path: string): Promise<T> {
    return this.#request(path, { method: "GET" });
  }

  #send<T>(path: string, body: unknown): Promise<T> {
    return this.#request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async #request<T>(path: string, init: RequestInit): Promise<T> {
    if (this.#refusal !== undefined) throw this.#refusal;
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      headers: { ...(init.headers ?? {}), authorization: `Bearer ${this.token}` },
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // A proxy's HTML error page: reported by status below.
    }
    if (!response.ok) {
      const error = (body.error ?? body) as { code?: string; message?: string };
      const refused = new OpsApiError(
        response.status,
        error.code ?? `HTTP_${response.status}`,
        error.message ?? response.statusText,
      );
      if (response.status === 401 && this.#refusal === undefined) {
        this.#refusal = refused;
        this.#onRefused?.();
      }
      throw refused;
    }
    return body as T;
  }
}
