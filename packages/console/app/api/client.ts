import type {
  ActionKind,
  ActionPreview,
  BehaviorGraph,
  DefinitionsListing,
  InstanceDetail,
  Operator,
  Overview,
  SearchPage,
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
  status?: string;
  step?: string;
  olderThanMinutes?: string;
  after?: string;
}

/**
 * The operator API as the console calls it: the same endpoints users script against, with the
 * token as a Bearer credential. `base` is the server's root ("" when the console is served by it).
 */
export class OpsClient {
  constructor(
    private readonly token: string,
    private readonly base = "",
  ) {}

  whoami(): Promise<Operator> {
    return this.#get("/v1/ops/whoami");
  }

  overview(): Promise<Overview> {
    return this.#get("/v1/ops/overview");
  }

  search(query: SearchQuery): Promise<SearchPage> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== "") params.set(name, value);
    }
    return this.#get(`/v1/ops/search?${params}`);
  }

  instance(id: string): Promise<InstanceDetail> {
    return this.#get(`/v1/ops/instances/${encodeURIComponent(id)}/detail`);
  }

  preview(id: string, action: ActionKind, step?: string): Promise<ActionPreview> {
    return this.#send(`/v1/ops/instances/${encodeURIComponent(id)}/preview`, {
      action,
      ...(step ? { step } : {}),
    });
  }

  act(id: string, action: ActionKind, reason: string, step?: string): Promise<unknown> {
    const path = { retry: "retry", move: "move", cancel: "cancel" }[action];
    return this.#send(`/v1/ops/instances/${encodeURIComponent(id)}/${path}`, {
      reason,
      ...(step ? { step } : {}),
    });
  }

  definitions(): Promise<DefinitionsListing> {
    return this.#get("/v1/ops/definitions");
  }

  graph(channel: string, behavior: string, version: number): Promise<BehaviorGraph> {
    return this.#get(
      `/v1/ops/definitions/${encodeURIComponent(channel)}/${encodeURIComponent(behavior)}/${version}/graph`,
    );
  }

  diff(channel: string, behavior: string, from: number, to: number): Promise<VersionDiff> {
    return this.#get(
      `/v1/ops/definitions/${encodeURIComponent(channel)}/${encodeURIComponent(behavior)}/diff?from=${from}&to=${to}`,
    );
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
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      headers: { ...(init.headers ?? {}), authorization: `Bearer ${this.token}` },
    });
    const text = await response.text();
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok) {
      const error = (body.error ?? body) as { code?: string; message?: string };
      throw new OpsApiError(
        response.status,
        error.code ?? `HTTP_${response.status}`,
        error.message ?? response.statusText,
      );
    }
    return body as T;
  }
}
