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
  /** A ring: once full, `next` is the oldest entry, and each add overwrites it (no shifting of the rest). */
  private readonly items: DaemonEvent[] = [];
  private next = 0;

  constructor(private readonly capacity = 1000) {}

  add(now: Date, e: Omit<DaemonEvent, 'time'>): void {
    const item = { time: now.toISOString(), ...e };
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.next] = item;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  list(): DaemonEvent[] {
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}
