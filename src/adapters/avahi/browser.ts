// Avahi D-Bus adapter for stafd: browses and resolves NVMe discovery services (TP8009), follows avahi-daemon restarts.
/**
 * Talks to org.freedesktop.Avahi on a DBusConnection (src/adapters/dbus/connection.ts) with the low-level API only (calls through `busCall`,
 * the bus' 'message' event), so that no signal can be missed:
 *
 * - Avahi sends its browser/resolver signals as unicast signals addressed to the client that created the object
 *   (avahi-daemon/dbus-*.c: dbus_message_set_destination), so the bus delivers them whatever match rules exist.
 *   The match rules added at start are belt and braces (and what nvme-stas subscribes to).
 * - Upstream Avahi 0.8 starts a browser or resolver as soon as ServiceBrowserNew/ServiceResolverNew runs, so
 *   ItemNew/Found can reach us in the same read as the reply, i.e. before the caller has learnt the object path
 *   (a proxy object per path, subscribed after the reply, would lose them). Avahi 0.9 delays that start by
 *   10 ms and adds org.freedesktop.Avahi.Server2 *Prepare + Start(); Debian 12's 0.8-10 has Server2 too. With
 *   *New on Debian 12, the tests here see signals ahead of the reply for over half of the objects. This adapter
 *   works the same with every version: its message listener is installed before the first call, and while a
 *   *New call is in flight every Avahi signal for a path not known yet is buffered and replayed once the reply
 *   names its path.
 * - Only signals whose sender is the current unique owner of org.freedesktop.Avahi are believed (any client on
 *   the system bus may send a signal to us); object calls go to that unique name too.
 * - Availability follows NameOwnerChanged: a vanished daemon drops every service (`removed` for each one that was
 *   `added`, then `unavailable`); a new owner gets new browsers (`available`, then services are found again).
 *   While Avahi is absent a "kick" (GetVersionString to the well-known name, which D-Bus activation may answer
 *   by starting avahi-daemon) repeats every 60 s, as nvme-stas does.
 */
import { EventEmitter } from 'node:events';
import { type Message, MessageType } from '../../core/dbus/message.js';
import type { LogFn } from '../../core/log.js';
import {
  AVAHI_IF_UNSPEC,
  AVAHI_PROTO_UNSPEC,
  candidateFromService,
  escapeText,
  type MdnsCandidate,
  NVME_DISC_SERVICE_TYPES,
  type ServiceIdentity,
  serviceKey,
  serviceLabel,
} from '../../core/mdns.js';
import { busCall, type DBusConnection } from '../dbus/service.js';

export const AVAHI_BUS_NAME = 'org.freedesktop.Avahi';
const SERVER_IFACE = 'org.freedesktop.Avahi.Server';
const BROWSER_IFACE = 'org.freedesktop.Avahi.ServiceBrowser';
const RESOLVER_IFACE = 'org.freedesktop.Avahi.ServiceResolver';
const DBUS_NAME = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';
/** AVAHI_LOOKUP_USE_MULTICAST, the flags nvme-stas passes (for the `local` domain the same as 0). */
const LOOKUP_USE_MULTICAST = 2;
const { SIGNAL } = MessageType;
/** Signals buffered while object creations are in flight, at most (a flood from Avahi itself is dropped). */
const MAX_EARLY_SIGNALS = 4096;

const MATCH_RULES = [
  `type='signal',sender='${DBUS_NAME}',path='${DBUS_PATH}',interface='${DBUS_NAME}',member='NameOwnerChanged',arg0='${AVAHI_BUS_NAME}'`,
  `type='signal',sender='${AVAHI_BUS_NAME}',interface='${BROWSER_IFACE}'`,
  `type='signal',sender='${AVAHI_BUS_NAME}',interface='${RESOLVER_IFACE}'`,
];

/** The bus this adapter talks on (calls go through the shared bus-call helper). */
export type AvahiBus = DBusConnection;

export interface AvahiBrowserOptions {
  /** Service types to browse; default `_nvme-disc._tcp` and `_nvme-disc._udp`. */
  serviceTypes?: readonly string[];
  /** The kernel takes the TP8013 `discovery` option (TXT `nqn=` is used); default true. */
  discoveryNqnSupported?: boolean;
  log?: LogFn;
  /** Interval of the wake-up call while Avahi is absent; default 60 s (nvme-stas). */
  kickIntervalMs?: number;
  /** Give up on a D-Bus call after this long; default 10 s. */
  callTimeoutMs?: number;
}

/** An identified mDNS service (what `added` carries). */
export interface MdnsService {
  /** {@link serviceKey} of the identity: what `removed` names. */
  readonly key: string;
  readonly identity: ServiceIdentity;
  /** Printable identity for logs. */
  readonly label: string;
  readonly ifname: string;
  readonly host: string;
  /** The address as Avahi reported it. */
  readonly address: string;
  readonly port: number;
  /** Avahi lookup result flags of the Found signal. */
  readonly flags: number;
  readonly txt: ReadonlyMap<string, string>;
  readonly candidate: MdnsCandidate;
}

export interface AvahiBrowserEvents {
  /** A service was identified, or re-announced (same key, maybe new data). */
  added: [MdnsService];
  /** A service that was `added` is gone (ItemRemove, unusable re-announcement, or avahi-daemon vanished). */
  removed: [string];
  /** avahi-daemon owns its bus name (at start or later); browsers are being created. */
  available: [];
  /** avahi-daemon lost its bus name; every service was `removed` before. */
  unavailable: [];
}

interface Entry {
  readonly identity: ServiceIdentity;
  resolverPath?: string;
  service?: MdnsService;
  /** Found signals seen, to drop a stale one whose interface-name lookup finished late. */
  foundSeq: number;
}

class CallTimeoutError extends Error {
  constructor(member: string, ms: number) {
    super(`D-Bus call ${member} got no reply within ${ms} ms`);
    this.name = 'CallTimeoutError';
  }
}

function errorText(e: unknown): string {
  const err = e as { type?: unknown; text?: unknown; message?: unknown };
  if (typeof err?.type === 'string' && typeof err.text === 'string') return `${err.type}: ${err.text}`;
  return typeof err?.message === 'string' ? err.message : String(e);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export class AvahiBrowser extends EventEmitter<AvahiBrowserEvents> {
  private readonly serviceTypes: readonly string[];
  private readonly discoveryNqnSupported: boolean;
  private readonly log: LogFn;
  private readonly kickIntervalMs: number;
  private readonly callTimeoutMs: number;

  private bus: AvahiBus | undefined;
  /** Unique bus name of the avahi-daemon we work with; null while there is none. */
  private owner: string | null = null;
  /** Bumped on every owner change and on stop: async continuations of an older generation do nothing. */
  private generation = 0;
  /** Bumped on every NameOwnerChanged, to ignore a GetNameOwner reply that is older than the signal. */
  private ownerEpoch = 0;
  private readonly browsers = new Map<string, string>();
  private readonly resolvers = new Map<string, string>();
  private readonly entries = new Map<string, Entry>();
  private pendingCreates = 0;
  private early: Message[] = [];
  private kickTimer: NodeJS.Timeout | undefined;

  constructor(opts: AvahiBrowserOptions = {}) {
    super();
    this.serviceTypes = opts.serviceTypes ?? NVME_DISC_SERVICE_TYPES;
    this.discoveryNqnSupported = opts.discoveryNqnSupported ?? true;
    this.log = opts.log ?? (() => {});
    this.kickIntervalMs = opts.kickIntervalMs ?? 60_000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 10_000;
  }

  /** Whether avahi-daemon is on the bus. */
  get isAvailable(): boolean {
    return this.owner !== null;
  }

  /** The identified services. */
  services(): MdnsService[] {
    const out: MdnsService[] = [];
    for (const e of this.entries.values()) if (e.service) out.push(e.service);
    return out;
  }

  /**
   * Starts watching Avahi on `bus` (the system bus). Resolves once the current state is known; an absent
   * avahi-daemon is not an error (nothing is emitted; it is picked up when it appears). Rejects only when the
   * bus itself fails (AddMatch/GetNameOwner). `available` may be emitted before this resolves: listen first.
   */
  async start(bus: AvahiBus): Promise<void> {
    if (this.bus) throw new Error('AvahiBrowser already started');
    this.bus = bus;
    bus.on('message', this.onMessage);
    const gen = this.generation;
    try {
      for (const rule of MATCH_RULES) await this.callBus(bus, 'AddMatch', 's', [rule]);
    } catch (e) {
      this.stopListening(bus);
      throw e;
    }
    if (gen !== this.generation) return;
    const epoch = this.ownerEpoch;
    let owner: string | null = null;
    try {
      const reply = await this.callBus(bus, 'GetNameOwner', 's', [AVAHI_BUS_NAME]);
      owner = typeof reply?.body[0] === 'string' ? reply.body[0] : null;
    } catch (e) {
      if ((e as { type?: string }).type !== 'org.freedesktop.DBus.Error.NameHasNoOwner') {
        if (gen === this.generation) this.stopListening(bus);
        throw e;
      }
    }
    if (gen !== this.generation || epoch !== this.ownerEpoch) return;
    if (owner) this.setOwner(owner);
    else {
      this.log('warning', 'avahi-daemon not available, operating w/o mDNS discovery.');
      this.startKick();
    }
  }

  /** Frees the Avahi objects and stops listening. Emits nothing. */
  async stop(): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    const owner = this.owner;
    const objects: [string, string][] = [
      ...[...this.resolvers.keys()].map((p): [string, string] => [p, RESOLVER_IFACE]),
      ...[...this.browsers.keys()].map((p): [string, string] => [p, BROWSER_IFACE]),
    ];
    this.reset();
    this.stopListening(bus);
    if (owner) await Promise.allSettled(objects.map(([p, i]) => this.free(bus, owner, p, i)));
    await Promise.allSettled(MATCH_RULES.map((r) => this.callBus(bus, 'RemoveMatch', 's', [r])));
  }

  private stopListening(bus: AvahiBus): void {
    bus.removeListener('message', this.onMessage);
    this.stopKick();
    this.generation++;
    if (this.bus === bus) this.bus = undefined;
  }

  /** Forgets every object and service (a new generation). */
  private reset(): void {
    this.generation++;
    this.owner = null;
    this.browsers.clear();
    this.resolvers.clear();
    this.entries.clear();
    this.early = [];
  }

  private callBus(bus: AvahiBus, member: string, signature: string, body: unknown[]): Promise<Message> {
    return this.callAvahi(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, member, signature, body);
  }

  private callAvahi(
    bus: AvahiBus,
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<Message> {
    return busCall(
      bus,
      { destination, path, interface: iface, member, signature, body },
      { timeoutMs: this.callTimeoutMs, timeoutError: () => new CallTimeoutError(member, this.callTimeoutMs) },
    );
  }

  private async free(bus: AvahiBus, owner: string, path: string, iface: string): Promise<void> {
    try {
      await this.callAvahi(bus, owner, path, iface, 'Free', '', []);
    } catch (e) {
      this.log('debug', `Avahi: failed to Free() ${path}: ${errorText(e)}`);
    }
  }

  private readonly onMessage = (msg: Message): void => {
    try {
      this.handleMessage(msg);
    } catch (e) {
      this.log('error', `Avahi: cannot handle ${msg.interface}.${msg.member}: ${errorText(e)}`);
    }
  };

  private handleMessage(msg: Message): void {
    if (msg.type !== SIGNAL || !this.bus) return;
    if (msg.interface === DBUS_NAME) {
      if (msg.member !== 'NameOwnerChanged' || msg.sender !== DBUS_NAME || msg.path !== DBUS_PATH) return;
      const [name, , newOwner] = msg.body as unknown[];
      if (name !== AVAHI_BUS_NAME || typeof newOwner !== 'string') return;
      this.ownerEpoch++;
      this.setOwner(newOwner === '' ? null : newOwner);
      return;
    }
    if (msg.interface !== BROWSER_IFACE && msg.interface !== RESOLVER_IFACE) return;
    if (this.owner === null || msg.sender !== this.owner || msg.path === undefined) return;
    if (!this.browsers.has(msg.path) && !this.resolvers.has(msg.path)) {
      if (this.pendingCreates > 0) {
        if (this.early.length >= MAX_EARLY_SIGNALS) this.early.shift();
        this.early.push(msg);
      }
      return;
    }
    this.dispatch(msg.path, msg);
  }

  private setOwner(owner: string | null): void {
    if (owner === this.owner) return;
    if (this.owner !== null) this.detach();
    if (owner !== null) void this.attach(owner);
  }

  /** avahi-daemon is gone: its objects died with it. */
  private detach(): void {
    const gone = [...this.entries.values()].filter((e) => e.service).map((e) => serviceKey(e.identity));
    this.reset();
    for (const key of gone) this.emit('removed', key);
    this.log('warning', 'avahi-daemon not available, zeroconf not supported.');
    this.emit('unavailable');
    this.startKick();
  }

  private async attach(owner: string): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    this.owner = owner;
    const gen = ++this.generation;
    this.stopKick();
    this.log('info', 'avahi-daemon service available, zeroconf supported.');
    this.emit('available');
    for (const stype of this.serviceTypes) {
      try {
        await this.create(
          bus,
          gen,
          BROWSER_IFACE,
          'ServiceBrowserNew',
          'iissu',
          [AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, stype, 'local', LOOKUP_USE_MULTICAST],
          (path) => {
            this.browsers.set(path, stype);
            return true;
          },
        );
      } catch (e) {
        if (gen !== this.generation) return;
        this.log('debug', `Avahi: ServiceBrowserNew(${stype}) failed: ${errorText(e)}`);
        this.log('warning', 'avahi-daemon not available, operating w/o mDNS discovery.');
        this.startKick();
        return;
      }
      if (gen !== this.generation) return;
    }
  }

  /**
   * Creates an Avahi object with `member` (a *New method returning its path), registers it with `register`
   * (false: not wanted any more, Free it) and replays the signals that arrived for it before the reply was seen.
   * Returns undefined when the generation changed meanwhile (the object is freed if its daemon is still there).
   */
  private async create(
    bus: AvahiBus,
    gen: number,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
    register: (path: string) => boolean,
  ): Promise<string | undefined> {
    const owner = this.owner;
    if (owner === null) return undefined;
    this.pendingCreates++;
    try {
      const reply = await this.callAvahi(bus, owner, '/', SERVER_IFACE, member, signature, body);
      const path = reply?.body[0];
      if (typeof path !== 'string') throw new Error(`${member} returned no object path`);
      if (gen !== this.generation || !register(path)) {
        if (this.owner === owner || this.bus === undefined) void this.free(bus, owner, path, iface);
        return undefined;
      }
      const mine = this.early.filter((m) => m.path === path);
      if (mine.length > 0) {
        this.log('debug', `Avahi: ${mine.length} signal(s) for ${path} arrived before its reply: replayed`);
        this.early = this.early.filter((m) => m.path !== path);
        for (const m of mine) this.dispatch(path, m);
      }
      return path;
    } finally {
      this.pendingCreates--;
      if (this.pendingCreates === 0) this.early = [];
    }
  }

  private dispatch(path: string, msg: Message): void {
    const body = msg.body as unknown[];
    if (msg.interface === BROWSER_IFACE && this.browsers.has(path)) {
      if (msg.member === 'ItemNew') void this.onItemNew(body);
      else if (msg.member === 'ItemRemove') this.onItemRemove(body);
      else if (msg.member === 'Failure')
        this.log('error', `Avahi: ServiceBrowser failure: ${escapeText(String(body[0]))}`);
      return;
    }
    if (msg.interface === RESOLVER_IFACE && this.resolvers.has(path)) {
      if (msg.member === 'Found') void this.onFound(path, body);
      else if (msg.member === 'Failure') {
        const err = escapeText(String(body[0]));
        // A resolver may time out (also after Free()): normal, as nvme-stas notes.
        this.log(/timeout/i.test(err) ? 'debug' : 'error', `Avahi: ServiceResolver failure: ${err}`);
      }
    }
  }

  private identityOf(body: unknown[]): ServiceIdentity | null {
    const [iface, protocol, name, type, domain] = body;
    if (!isInt(iface) || !isInt(protocol)) return null;
    if (typeof name !== 'string' || typeof type !== 'string' || typeof domain !== 'string') return null;
    return { interface: iface, protocol, name, type, domain };
  }

  private async onItemNew(body: unknown[]): Promise<void> {
    const id = this.identityOf(body);
    const bus = this.bus;
    if (!id || !bus) return;
    const key = serviceKey(id);
    if (this.entries.has(key)) return;
    const entry: Entry = { identity: id, foundSeq: 0 };
    this.entries.set(key, entry);
    const gen = this.generation;
    this.log('debug', `Avahi: service discovered ${serviceLabel(id, String(id.interface))}`);
    try {
      await this.create(
        bus,
        gen,
        RESOLVER_IFACE,
        'ServiceResolverNew',
        'iisssiu',
        [id.interface, id.protocol, id.name, id.type, id.domain, AVAHI_PROTO_UNSPEC, LOOKUP_USE_MULTICAST],
        (path) => {
          if (this.entries.get(key) !== entry) return false;
          entry.resolverPath = path;
          this.resolvers.set(path, key);
          return true;
        },
      );
    } catch (e) {
      if (gen !== this.generation) return;
      // Forget it, so that the next ItemNew for it tries again.
      if (this.entries.get(key) === entry) this.entries.delete(key);
      this.log(
        'warning',
        `Failed to create resolver - ${serviceLabel(id, String(id.interface))}: ${errorText(e)}`,
      );
    }
  }

  private onItemRemove(body: unknown[]): void {
    const id = this.identityOf(body);
    if (!id) return;
    const key = serviceKey(id);
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const owner = this.owner;
    if (entry.resolverPath !== undefined) {
      this.resolvers.delete(entry.resolverPath);
      if (this.bus && owner) void this.free(this.bus, owner, entry.resolverPath, RESOLVER_IFACE);
    }
    this.log(
      'debug',
      `Avahi: service removed ${entry.service?.label ?? serviceLabel(id, String(id.interface))}`,
    );
    if (entry.service) this.emit('removed', key);
  }

  private async onFound(path: string, body: unknown[]): Promise<void> {
    const key = this.resolvers.get(path);
    const entry = key === undefined ? undefined : this.entries.get(key);
    const bus = this.bus;
    const owner = this.owner;
    if (key === undefined || !entry || !bus || owner === null) return;
    const [, , , , , host, , address, port, txt, flags] = body;
    if (typeof host !== 'string' || typeof address !== 'string' || !isInt(port) || !isInt(flags)) return;
    if (!Array.isArray(txt) || !txt.every((t) => t instanceof Uint8Array)) return;
    const seq = ++entry.foundSeq;
    const gen = this.generation;
    let ifname: string;
    try {
      const reply = await this.callAvahi(
        bus,
        owner,
        '/',
        SERVER_IFACE,
        'GetNetworkInterfaceNameByIndex',
        'i',
        [entry.identity.interface],
      );
      const name = reply?.body[0];
      if (typeof name !== 'string') throw new Error('no interface name in the reply');
      ifname = name;
    } catch (e) {
      if (gen === this.generation) {
        this.log('warning', `Avahi: no name for interface ${entry.identity.interface}: ${errorText(e)}`);
      }
      return;
    }
    if (gen !== this.generation || this.entries.get(key) !== entry || seq !== entry.foundSeq) return;
    const res = candidateFromService(
      { ...entry.identity, ifname, host, address, port, txt: txt as Uint8Array[] },
      { discoveryNqnSupported: this.discoveryNqnSupported },
    );
    if (!res.ok) {
      this.log(res.level, res.message);
      if (entry.service) {
        entry.service = undefined;
        this.emit('removed', key);
      }
    } else {
      const service: MdnsService = {
        key,
        identity: entry.identity,
        label: serviceLabel(entry.identity, ifname),
        ifname,
        host,
        address,
        port,
        flags,
        txt: res.txt,
        candidate: res.candidate,
      };
      entry.service = service;
      this.log(
        'debug',
        `Avahi: service identified ${service.label}: ${escapeText(address)}:${port} ${res.candidate.transport}`,
      );
      this.emit('added', service);
    }
  }

  private startKick(): void {
    if (this.kickTimer || !this.bus) return;
    this.kickTimer = setInterval(() => void this.onKick(), this.kickIntervalMs);
    this.kickTimer.unref();
  }

  private stopKick(): void {
    if (this.kickTimer) clearInterval(this.kickTimer);
    this.kickTimer = undefined;
  }

  /** Wake-up call to the well-known name (D-Bus activation may start avahi-daemon). */
  private async onKick(): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    const gen = this.generation;
    try {
      await this.callAvahi(bus, AVAHI_BUS_NAME, '/', SERVER_IFACE, 'GetVersionString', '', []);
    } catch {
      return;
    }
    if (gen !== this.generation || this.bus !== bus) return;
    this.stopKick();
    if (this.owner !== null) return;
    // It answered, but we saw no NameOwnerChanged (or not yet): ask who it is.
    const epoch = this.ownerEpoch;
    try {
      const reply = await this.callBus(bus, 'GetNameOwner', 's', [AVAHI_BUS_NAME]);
      const owner = reply?.body[0];
      if (gen === this.generation && epoch === this.ownerEpoch && typeof owner === 'string')
        this.setOwner(owner);
    } catch {
      if (gen === this.generation) this.startKick();
    }
  }
}
