/**
 * A userspace NVMe/TCP host session to a discovery controller over node:net: connection set-up (ICReq, Fabrics
 * Connect, controller enable, Identify), admin commands with timeouts, keep-alive, asynchronous event
 * notifications, DIM, and orderly shutdown. All encoding/decoding is the pure codec in src/core/nvme.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { errorText } from '../../core/log.js';
import { nodeCrypto } from '../../core/node-crypto.js';
import { type DhchapKey, parseDhchapSecret, wipe } from '../../core/nvme/auth-crypto.js';
import { AuthHost, authenticateHost } from '../../core/nvme/auth-host.js';
import {
  AEC_DISCOVERY_LOG_CHANGE,
  type AsyncEvent,
  AUTH_RECEIVE_LENGTH,
  asyncEventRequestCommand,
  authReceiveCommand,
  authSendCommand,
  CAP_TO_UNIT_MS,
  Cc,
  type Completion,
  Csts,
  connectAuthRequest,
  connectCommand,
  connectData,
  DimTask,
  dimCommand,
  Feature,
  getLogPageCommand,
  IDENTIFY_DATA_LENGTH,
  identifyCommand,
  keepAliveCommand,
  Property,
  parseAsyncEvent,
  parseCqe,
  propertyGetCommand,
  propertySetCommand,
  setFeaturesCommand,
} from '../../core/nvme/commands.js';
import { type DimHostRegistration, encodeDimRegistration } from '../../core/nvme/dim.js';
import {
  type DiscoveryLog,
  type DiscoveryLogReadOptions,
  discoveryLogOptions,
  type LogPageRead,
  readDiscoveryLogOf,
} from '../../core/nvme/discovery-log-read.js';
import { type IdentifyController, parseIdentifyController } from '../../core/nvme/identify.js';
import { type Pdu, PduType, ProtocolError } from '../../core/nvme/pdu.js';
import { PduParser } from '../../core/nvme/pdu-parser.js';
import { type SerializeOptions, serializePdu } from '../../core/nvme/pdu-serializer.js';
import { asDcSessionError, type DcSessionOptions, logReadError } from '../dc-session.js';
import { tcpConnectBound } from '../native.js';
import {
  AuthenticationError,
  CommandTimeoutError,
  ConnectError,
  NvmeStatusError,
  PeerProtocolError,
  SessionClosedError,
} from './errors.js';

export { AuthenticationError } from './errors.js';

/**
 * The session options (host-iface binds with SO_BINDTODEVICE through the native addon) plus the userspace host's
 * own limits.
 */
export interface SessionOptions extends DcSessionOptions {
  /** Timeout of TCP connect + ICReq and of each command (ms). */
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Largest PDU accepted from the controller. */
  maxPduLength?: number;
}

/** A completed command: its CQE and C2H data (`received` bytes of it transferred, the rest zero). */
interface Done {
  cqe: Completion;
  data: Buffer;
  received: number;
}

interface Pending {
  name: string;
  resolve: (c: Done) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Expected C2H data length (0: none). */
  dataLength: number;
  data: Buffer;
  received: number;
}

export interface SessionEvents {
  aen: [AsyncEvent];
  close: [Error | undefined];
}

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`host ID "${uuid}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

/** TCP connect with node:net (routing tables choose the interface). */
function connectPlain(opts: SessionOptions, timeout: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({
      host: opts.traddr,
      port: Number(opts.trsvcid),
      ...(opts.hostTraddr ? { localAddress: opts.hostTraddr } : {}),
      noDelay: true,
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new CommandTimeoutError(
          `TCP connect to ${opts.traddr}:${opts.trsvcid} timed out after ${timeout} ms`,
        ),
      );
    }, timeout);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ConnectError(e.code ?? 'EIO', `cannot connect to ${opts.traddr}:${opts.trsvcid}: ${e.message}`),
      );
    });
  });
}

/** TCP connect bound to an interface (SO_BINDTODEVICE, in the thread pool), then handed to node:net. */
async function connectBound(opts: SessionOptions, timeout: number): Promise<net.Socket> {
  let fd: number;
  try {
    fd = await tcpConnectBound({
      host: opts.traddr,
      port: Number(opts.trsvcid),
      ...(opts.hostTraddr ? { localAddress: opts.hostTraddr } : {}),
      iface: opts.hostIface!,
      timeoutMs: timeout,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const where = `${opts.traddr}:${opts.trsvcid} on ${opts.hostIface}`;
    if (code === 'ETIMEDOUT')
      throw new CommandTimeoutError(`TCP connect to ${where} timed out after ${timeout} ms`);
    throw new ConnectError(code, `cannot connect to ${where}: ${errorText(e)}`);
  }
  const s = new net.Socket({ fd, readable: true, writable: true });
  s.setNoDelay(true);
  return s;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

export class DiscoverySession extends EventEmitter<SessionEvents> {
  private readonly socket: net.Socket;
  private readonly parser: PduParser;
  private readonly pending = new Map<number, Pending>();
  private nextCid = 1;
  private wire: SerializeOptions = { hdgst: false, ddgst: false, pda: 0 };
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private aerCid: number | undefined;
  private closed = false;
  /** What this host registered with the CDC (DIM), to deregister on close. */
  private registration: DimHostRegistration | undefined;
  private closeError: Error | undefined;
  private icResolve: ((p: Pdu) => void) | undefined;
  private icCleanup: (() => void) | undefined;
  /** Controller ID the controller assigned at Connect. */
  cntlid = 0;
  /** Identify Controller data, available once connect() resolved. */
  identify!: IdentifyController;

  private constructor(
    socket: net.Socket,
    private readonly opts: SessionOptions,
  ) {
    super();
    this.socket = socket;
    this.parser = new PduParser({
      maxPduLength: opts.maxPduLength,
      accept: new Set([PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData]),
    });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (e) =>
      this.fail(new SessionClosedError(`connection error: ${e.message}`, { cause: e })),
    );
    socket.on('close', () => this.fail(new SessionClosedError('connection closed by the controller')));
  }

  /** Opens the TCP connection and brings the discovery controller up (ready for Get Log Page). */
  static async connect(opts: SessionOptions): Promise<DiscoverySession> {
    const timeout = opts.connectTimeoutMs ?? 10_000;
    const socket = opts.hostIface ? await connectBound(opts, timeout) : await connectPlain(opts, timeout);
    const session = new DiscoverySession(socket, opts);
    try {
      await session.initialize(timeout);
    } catch (e) {
      // Identify data too short is the peer's fault; anything else unexpected failed the set-up.
      const error = asDcSessionError(e, e instanceof ProtocolError ? 'protocol' : 'connect');
      session.destroy(error);
      throw error;
    }
    return session;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async initialize(timeout: number): Promise<void> {
    const ic = new Promise<Pdu>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new CommandTimeoutError(`no ICResp within ${timeout} ms`)),
        timeout,
      );
      this.icResolve = (p) => {
        clearTimeout(timer);
        this.icCleanup?.();
        resolve(p);
      };
      const onClose = (e: Error | undefined) => {
        clearTimeout(timer);
        reject(e ?? new SessionClosedError('closed during connection set-up'));
      };
      this.once('close', onClose);
      this.icCleanup = () => this.off('close', onClose);
    });
    this.socket.write(
      serializePdu({
        type: 'icreq',
        pfv: 0,
        hpda: 0,
        hdgst: !!this.opts.hdrDigest,
        ddgst: !!this.opts.dataDigest,
        maxr2t: 0,
      }),
    );
    const resp = await ic;
    if (resp.type !== 'icresp') throw new PeerProtocolError(`expected ICResp, got ${resp.type}`);
    if (resp.pfv !== 0) throw new PeerProtocolError(`unsupported PDU format version ${resp.pfv}`);
    if (resp.cpda > 31) throw new PeerProtocolError(`invalid CPDA ${resp.cpda}`);
    if ((resp.hdgst && !this.opts.hdrDigest) || (resp.ddgst && !this.opts.dataDigest)) {
      throw new PeerProtocolError('controller enabled a digest the host did not ask for');
    }
    this.wire = { hdgst: resp.hdgst, ddgst: resp.ddgst, pda: resp.cpda };
    this.parser.setDigests({ hdgst: resp.hdgst, ddgst: resp.ddgst });

    const data = connectData({
      hostId: uuidBytes(this.opts.hostId),
      subsysnqn: this.opts.subsysnqn,
      hostnqn: this.opts.hostNqn,
    });
    const connect = await this.command(
      'Connect',
      (cid) => connectCommand(cid, { sqsize: 31, katoMs: this.opts.katoMs }),
      data,
    );
    this.cntlid = connect.cqe.dw0 & 0xffff;
    await this.authenticate(connect.cqe.dw0);

    const cap = await this.command('Property Get CAP', (cid) => propertyGetCommand(cid, Property.CAP, 8));
    const readyTimeout = Math.max(((cap.cqe.dw0 >>> 24) & 0xff) * CAP_TO_UNIT_MS, 500);
    await this.command('Property Set CC', (cid) => propertySetCommand(cid, Property.CC, Cc.ENABLE));
    await this.waitCsts((csts) => (csts & Csts.RDY) !== 0, readyTimeout, 'controller did not become ready');

    const id = await this.command('Identify', (cid) => identifyCommand(cid), undefined, IDENTIFY_DATA_LENGTH);
    this.identify = parseIdentifyController(id.data);
    this.startKeepAlive();
  }

  /**
   * In-band authentication right after the admin queue's Connect, before any other command (the kernel host's
   * order, drivers/nvme/host/fabrics.c nvmf_connect_admin_queue): when the Connect completion's AUTHREQ asks for it.
   * A configured controller secret requires the controller to ask (it must prove itself). Throws
   * AuthenticationError; the caller closes the session.
   */
  private async authenticate(connectDw0: number): Promise<void> {
    const o = this.opts;
    const ctrl = `controller ${o.traddr}:${o.trsvcid} (${o.subsysnqn})`;
    const req = connectAuthRequest(connectDw0);
    if (req.ascr)
      throw new AuthenticationError(
        `${ctrl} requires authentication with a secure channel (ASCR), which this host does not support`,
      );
    if (!req.atr) {
      if (o.dhchapCtrlSecret)
        throw new AuthenticationError(
          `${ctrl} did not ask for authentication, but dhchap-ctrl-secret requires it to prove its identity`,
        );
      return;
    }
    if (!o.dhchapSecret)
      throw new AuthenticationError(
        `${ctrl} requires authentication (DH-HMAC-CHAP), but no dhchap-secret is configured for it`,
      );
    let hostKey: DhchapKey | undefined;
    let ctrlKey: DhchapKey | undefined;
    try {
      hostKey = this.secret('dhchap-secret', o.dhchapSecret);
      ctrlKey = o.dhchapCtrlSecret ? this.secret('dhchap-ctrl-secret', o.dhchapCtrlSecret) : undefined;
      const host = new AuthHost({
        hostNqn: o.hostNqn,
        subsysNqn: o.subsysnqn,
        hostKey,
        ctrlKey,
        random: (n: number) => nodeCrypto().randomBytes(n),
        seqnums: o.dhchapSeqnums,
      });
      await authenticateHost(host, {
        send: async (m) => {
          await this.command('AUTH_Send', (cid) => authSendCommand(cid, m.length), m);
        },
        receive: async () => {
          const r = await this.command(
            'AUTH_Receive',
            (cid) => authReceiveCommand(cid, AUTH_RECEIVE_LENGTH),
            undefined,
            AUTH_RECEIVE_LENGTH,
          );
          return r.data.subarray(0, r.received);
        },
      });
    } catch (e) {
      if (e instanceof AuthenticationError) throw e;
      throw new AuthenticationError(`authentication with ${ctrl} failed: ${errorText(e)}`, {
        cause: e,
      });
    } finally {
      wipe(hostKey?.key, ctrlKey?.key);
    }
  }

  /** Parses a secret; the error names the option, never the secret. */
  private secret(option: string, text: string): DhchapKey {
    try {
      return parseDhchapSecret(text);
    } catch (e) {
      throw new Error(`${option}: ${errorText(e)}`);
    }
  }

  private async waitCsts(done: (csts: number) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const csts = (
        await this.command('Property Get CSTS', (cid) => propertyGetCommand(cid, Property.CSTS, 4))
      ).cqe.dw0;
      if (csts & Csts.CFS) throw new PeerProtocolError('controller fatal status (CSTS.CFS)');
      if (done(csts)) return;
      if (Date.now() > deadline) throw new CommandTimeoutError(`${what} within ${timeoutMs} ms`);
      await sleep(delay);
    }
  }

  private startKeepAlive(): void {
    if (this.opts.katoMs <= 0) return;
    // Send well within KATO, as the Linux host does (half of it).
    const every = Math.max(Math.floor(this.opts.katoMs / 2), 100);
    this.keepAliveTimer = setInterval(() => {
      this.command('Keep Alive', (cid) => keepAliveCommand(cid)).catch(() => {
        // A failed keep-alive already closed the session (timeout) or will be seen as a close.
      });
    }, every);
    this.keepAliveTimer.unref?.();
  }

  /** Sends one command and waits for its completion (and C2H data when dataLength > 0). */
  private command(
    name: string,
    build: (cid: number) => Buffer,
    inCapsule?: Uint8Array,
    dataLength = 0,
    timeoutMs: number | null = this.opts.commandTimeoutMs ?? 10_000,
  ): Promise<Done> {
    if (this.closed) return Promise.reject(this.closeError ?? new SessionClosedError('session is closed'));
    const cid = this.allocateCid();
    return new Promise((resolve, reject) => {
      const p: Pending = {
        name,
        resolve,
        reject,
        timer: undefined,
        dataLength,
        data: Buffer.alloc(dataLength),
        received: 0,
      };
      if (timeoutMs !== null) {
        p.timer = setTimeout(() => {
          this.fail(new CommandTimeoutError(`${name} got no response within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(cid, p);
      this.socket.write(
        serializePdu(
          { type: 'capsule_cmd', sqe: build(cid), data: inCapsule ?? new Uint8Array(0) },
          this.wire,
        ),
      );
    });
  }

  private allocateCid(): number {
    for (let i = 0; i < 0x10000; i++) {
      const cid = this.nextCid;
      this.nextCid = (this.nextCid + 1) & 0xffff;
      if (!this.pending.has(cid)) return cid;
    }
    throw new SessionClosedError('no free command identifier');
  }

  private onData(chunk: Buffer): void {
    let pdus: Pdu[];
    try {
      pdus = this.parser.push(chunk);
    } catch (e) {
      if (e instanceof ProtocolError) {
        // Tell the controller why (H2CTermReq), then close.
        this.fail(
          new PeerProtocolError(`protocol violation by the controller: ${e.message}`),
          serializePdu({ type: 'h2c_term', fes: e.fes, fei: e.fei, data: new Uint8Array(0) }),
        );
      } else this.fail(asDcSessionError(e, 'protocol'));
      return;
    }
    for (const pdu of pdus) {
      if (this.closed) return;
      try {
        this.onPdu(pdu);
      } catch (e) {
        this.fail(asDcSessionError(e, 'protocol'));
        return;
      }
    }
  }

  private onPdu(pdu: Pdu): void {
    switch (pdu.type) {
      case 'icresp': {
        const r = this.icResolve;
        this.icResolve = undefined;
        if (!r) throw new PeerProtocolError('unexpected ICResp');
        r(pdu);
        return;
      }
      case 'c2h_term':
        throw new PeerProtocolError(`controller terminated the connection (FES 0x${pdu.fes.toString(16)})`);
      case 'c2h_data': {
        const p = this.pending.get(pdu.cccid);
        if (!p || p.dataLength === 0) throw new PeerProtocolError(`C2HData for unknown command ${pdu.cccid}`);
        if (pdu.datao !== p.received || pdu.datao + pdu.data.length > p.dataLength) {
          throw new PeerProtocolError(
            `C2HData out of range for ${p.name}: offset ${pdu.datao} length ${pdu.data.length} (have ${p.received} of ${p.dataLength})`,
          );
        }
        p.data.set(pdu.data, pdu.datao);
        p.received += pdu.data.length;
        if (pdu.success) {
          if (p.received !== p.dataLength)
            throw new PeerProtocolError(`SUCCESS before all data of ${p.name}`);
          this.complete(pdu.cccid, {
            dw0: 0,
            dw1: 0,
            sqhd: 0,
            sqid: 0,
            cid: pdu.cccid,
            status: { sc: 0, sct: 0, crd: 0, more: false, dnr: false },
            ok: true,
          });
        }
        return;
      }
      case 'capsule_resp': {
        const cqe = parseCqe(pdu.cqe);
        if (cqe.cid === this.aerCid && this.aerCid !== undefined) {
          this.onAsyncEvent(cqe);
          return;
        }
        this.complete(cqe.cid, cqe);
        return;
      }
      default:
        throw new PeerProtocolError(`unexpected ${pdu.type} PDU`);
    }
  }

  private complete(cid: number, cqe: Completion): void {
    const p = this.pending.get(cid);
    if (!p) throw new PeerProtocolError(`completion for unknown command ${cid}`);
    this.pending.delete(cid);
    if (p.timer) clearTimeout(p.timer);
    if (!cqe.ok) {
      p.reject(new NvmeStatusError(p.name, cqe.status));
      return;
    }
    // A short transfer is legal (e.g. Get Log Page past the end of the log): the rest stays zero.
    p.resolve({ cqe, data: p.data, received: p.received });
  }

  private onAsyncEvent(cqe: Completion): void {
    const cid = this.aerCid!;
    const p = this.pending.get(cid);
    this.pending.delete(cid);
    this.aerCid = undefined;
    if (p?.timer) clearTimeout(p.timer);
    if (!cqe.ok) return; // e.g. aborted at shutdown: do not re-arm
    this.emit('aen', parseAsyncEvent(cqe.dw0));
    this.armAsyncEvent();
  }

  private armAsyncEvent(): void {
    if (this.closed || this.aerCid !== undefined) return;
    const cid = this.allocateCid();
    this.aerCid = cid;
    this.pending.set(cid, {
      name: 'Asynchronous Event Request',
      resolve: () => {},
      reject: () => {},
      timer: undefined,
      dataLength: 0,
      data: Buffer.alloc(0),
      received: 0,
    });
    this.socket.write(
      serializePdu(
        { type: 'capsule_cmd', sqe: asyncEventRequestCommand(cid), data: new Uint8Array(0) },
        this.wire,
      ),
    );
  }

  /** Enables discovery log change notices and arms the AER; `aen` events follow. */
  async enableDiscoveryChangeNotices(): Promise<void> {
    await this.command('Set Features (Async Event Configuration)', (cid) =>
      setFeaturesCommand(cid, Feature.AsyncEventConfig, AEC_DISCOVERY_LOG_CHANGE),
    );
    this.armAsyncEvent();
  }

  /** One Get Log Page transfer: the bytes the controller sent (fewer than asked on a short transfer). */
  async getLogPage(lid: number, read: LogPageRead): Promise<Uint8Array> {
    const r = await this.command(
      `Get Log Page 0x${lid.toString(16)}`,
      (cid) =>
        getLogPageCommand(cid, {
          lid,
          lsp: read.lsp,
          length: read.length,
          offset: read.offset,
          rae: read.rae,
        }),
      undefined,
      read.length,
    );
    return r.received < read.length ? r.data.subarray(0, r.received) : r.data;
  }

  /** Supported Log Pages (LID 0): the DLP options word (EXTDLPES/PLEOS/ALLSUBES) of LID 0x70. */
  async discoveryLogOptions(): Promise<number> {
    return discoveryLogOptions((lid, r) => this.getLogPage(lid, r));
  }

  /**
   * The whole discovery log, read consistently. A log that breaks the protocol (a header cut short, NUMREC
   * promising entries the controller does not return) is a violation by the peer like a bad PDU: the session
   * closes with a PeerProtocolError.
   */
  async readDiscoveryLog(opts: DiscoveryLogReadOptions = {}): Promise<DiscoveryLog> {
    try {
      return await readDiscoveryLogOf((lid, r) => this.getLogPage(lid, r), this.identify?.mdts ?? 0, opts);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw logReadError(e);
      const error = new PeerProtocolError(`protocol violation by the controller: ${e.message}`, { cause: e });
      this.fail(error);
      throw error;
    }
  }

  /**
   * Discovery Information Management (TP8010): register, deregister or update this host with a CDC. After a
   * successful register (or update), close() deregisters before shutting down.
   */
  async dim(task: (typeof DimTask)[keyof typeof DimTask], reg: DimHostRegistration): Promise<void> {
    const payload = encodeDimRegistration(reg);
    await this.command(
      'Discovery Information Management',
      (cid) => dimCommand(cid, task, payload.length),
      payload,
    );
    this.registration = task === DimTask.Deregister ? undefined : reg;
  }

  /** Orderly shutdown: CC.SHN, wait for CSTS.SHST complete (bounded), then close the connection. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    if (this.registration) {
      try {
        await this.dim(DimTask.Deregister, this.registration);
      } catch {
        // The CDC ages the registration out; closing goes on.
      }
    }
    try {
      await this.command(
        'Property Set CC (shutdown)',
        (cid) => propertySetCommand(cid, Property.CC, Cc.ENABLE | Cc.SHN_NORMAL),
        undefined,
        0,
        timeoutMs,
      );
      await this.waitCsts(
        (csts) => (csts & Csts.SHST_MASK) === Csts.SHST_COMPLETE,
        timeoutMs,
        'shutdown did not complete',
      );
    } catch {
      // Shutdown is best effort; the connection goes away regardless.
    }
    this.destroy();
  }

  /** Closes at once, failing every outstanding command. */
  destroy(error?: Error): void {
    this.fail(error ?? new SessionClosedError('session closed', { requested: true }));
  }

  private fail(error: Error, lastWords?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    if (lastWords && !this.socket.destroyed) {
      this.socket.end(lastWords);
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    this.emit('close', error instanceof SessionClosedError && error.requested ? undefined : error);
  }
}
