import type { ProcessorRegistry } from "../message/processor-registry.ts";
import type { NotificationPolicy } from "../outbox/notification-for.ts";
import type { ChannelCalendar } from "../ports/channel-calendar.ts";
import type { Clock } from "../ports/clock.ts";
import type { InstanceStore } from "../ports/instance-store.ts";
import type { Transport } from "../ports/transport.ts";
import type { FlowControl } from "../runtime/flow-control/flow-control.ts";
import type { EngineEvent } from "./engine-events.ts";
import type { RawMessageKeyring } from "./raw-message-keyring.ts";

/** The collaborators every step execution uses; assembled once by `createEngine`. */
export interface EngineCore {
  readonly store: InstanceStore;
  readonly processors: ProcessorRegistry;
  readonly transport: Transport;
  readonly flow: FlowControl;
  readonly clock: Clock;
  /** When channels take business; routing leaves closed ones out. */
  readonly calendar: ChannelCalendar;
  readonly workerId: string;
  /** How long a claim is leased; commits that keep the lease extend it by as much. */
  readonly leaseMs: number;
  readonly keepRawMessages: boolean;
  /** Encrypts messages kept as sent and received; required when any are kept. */
  readonly rawMessageKeys?: RawMessageKeyring;
  /** Which commits write a notification for the upstream; undefined: none (no outbox). */
  readonly notifications?: NotificationPolicy;
  /** A new serial number for a request attempt to a channel in `timeZone`. */
  newSerial(timeZone: string): string;
  emit(event: EngineEvent): void;
}
