/** `GET /v1/ops/definitions`: the stored channels and behaviors, every version of each. */
export interface DefinitionsView {
  channels: { code: string; name: string; timeZone: string }[];
  behaviors: { channel: string; code: string; versions: BehaviorVersionView[] }[];
}

/** One stored version of a behavior. */
export interface BehaviorVersionView {
  version: number;
  /** Whether new instances start on it. */
  active: boolean;
  /** How many steps it has. */
  steps: number;
  /** Unsettled instances pinned to this version. */
  pinned: number;
}

/** `GET /v1/ops/definitions/:channel/:behavior/diff?from=&to=`: what changed between two versions. */
export interface VersionDiffView {
  added: string[];
  removed: string[];
  changed: string[];
  /** `step.field` of each changed field, and `initial` when the initial step changed. */
  fields: string[];
}
