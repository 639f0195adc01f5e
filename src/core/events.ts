/** A bounded in-memory history of what a daemon did (controllers found, connected, lost, removed…). Pure. */

export interface DaemonEvent {
  /** ISO 8601 time. */
  time: string;
  /** Short kind: `dc-added`, `connected`, `connection-lost`, `log-pages`, `disconnected`, `connect-failed`, … */
  kind: string;
  /** Printable TID of the controller concerned, if any. */
  controller?: string;
  device?: string;
  detail?: string;
}

export class EventLog {
  private readonly items: DaemonEvent[] = [];

  constructor(private readonly capacity = 1000) {}

  add(now: Date, e: Omit<DaemonEvent, 'time'>): void {
    this.items.push({ time: now.toISOString(), ...e });
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  /** Oldest first. */
  list(): DaemonEvent[] {
    return [...this.items];
  }
}
