/**
 * A discovery controller test double speaking NVMe/TCP over node:net: serves a configurable discovery log
 * (entries, referrals, well-known or unique NQN), changes it on demand and sends the AEN, accepts DIM and records
 * it, and misbehaves on request. It makes fast and fault tests possible; it never replaces the kernel target.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { AuthController } from '../../src/core/nvme/auth-controller.js';
import { type HashName, hashIdOf, parseDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { type DhGroupName, dhGroupIdOf } from '../../src/core/nvme/auth-ffdhe.js';
import { decodeAuthMessage, encodeAuthMessage } from '../../src/core/nvme/auth-messages.js';
import {
  AUTH_REQUIRED_STATUS,
  AUTH_SECP_DHCHAP,
  buildCqe,
  ConnectAuthReq,
  DiscoveryLsp,
  FabricsAuthType,
  FabricsType,
  Feature,
  IDENTIFY_DATA_LENGTH,
  LogPage,
  Opcode,
  Property,
  parseSqe,
  type SqeFields,
} from '../../src/core/nvme/commands.js';
import { type DecodedDim, decodeDim } from '../../src/core/nvme/dim.js';
import {
  AdrFam,
  type DiscoveryLogEntry,
  encodeDiscoveryLog,
  SubType,
  TrType,
} from '../../src/core/nvme/discovery-log.js';
import { encodeIdentifyController } from '../../src/core/nvme/identify.js';
import { type Pdu, PduType } from '../../src/core/nvme/pdu.js';
import { PduParser } from '../../src/core/nvme/pdu-parser.js';
import { type SerializeOptions, serializePdu } from '../../src/core/nvme/pdu-serializer.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';

export type Misbehaviour =
  | { kind: 'close-mid-transfer' } // drop the connection halfway through a log page transfer
  | { kind: 'churn-genctr' } // GENCTR changes on every log page read
  | { kind: 'malformed-pdu'; on: 'identify' | 'log-page' } // answer with a PDU whose header is invalid
  | { kind: 'oversize-pdu' } // announce a 1 GiB PDU
  | { kind: 'slow'; delayMs: number } // every answer is late
  | { kind: 'never-answer'; after: 'icreq' | 'connect' } // stop answering
  | { kind: 'close-after-log-read' }; // close the connection once a whole log page read has completed

export interface TargetOptions {
  host?: string;
  port?: number;
  /** The controller's own NQN: the well-known discovery NQN (default) or a unique one. */
  subsysnqn?: string;
  dctype?: 'ddc' | 'cdc' | 'none';
  entries?: DiscoveryLogEntry[];
  genctr?: bigint;
  pleoSupported?: boolean;
  /** Largest C2HData PDU the target sends (bytes of data). */
  maxDataPerPdu?: number;
  misbehave?: Misbehaviour;
  /** ICResp MAXH2CDATA (default 1 MiB). */
  maxh2cdata?: number;
  /** The discovery log header's NUMREC, whatever the log holds (a controller that lies about its size). */
  numrecLie?: number;
  /** Discovery log reads past the end of the log transfer only the bytes there are (not zeros). */
  shortLogTransfers?: boolean;
  /**
   * Virtual discovery controllers behind this one listener: a Fabrics Connect to any subsystem NQN for which this
   * returns a log is accepted, and that connection is served that log (a referral factory, chains and cross-referral
   * amplification need many DCs but only one socket here). Return the same array for the same log: its encoding is
   * cached (per GENCTR).
   */
  logFor?: (subnqn: string) => readonly DiscoveryLogEntry[] | undefined;
  /** In-band authentication (DH-HMAC-CHAP) the controller requires, as the kernel target does with a host key. */
  dhchap?: DhchapTargetOptions;
}

/** What one subsystem NQN (a virtual DC, or the target's own NQN) saw. */
export interface NqnStats {
  /** Fabrics Connects accepted. */
  accepted: number;
  /** When each was accepted (performance.now()). */
  acceptedAt: number[];
  /** Connections open now. */
  open: number;
  /** Whole discovery log reads started (header read with RAE set, at offset 0: one per read attempt). */
  readStarts: number;
  /**
   * Whole discovery log read attempts ended (the final header read, RAE cleared): completed reads when GENCTR held
   * still; a host retries an attempt during which GENCTR moved.
   */
  readEnds: number;
  /** Discovery log change AENs sent. */
  aens: number;
}

/** Progress of an AEN storm (DiscoveryTarget.aenStorm). */
export interface AenStorm {
  /** AENs sent so far. */
  readonly sent: number;
  /** Resolves when `count` AENs are sent or stop() is called: the number sent. */
  readonly done: Promise<number>;
  stop(): void;
}

export interface DimRecord {
  task: number;
  hostNqn: string;
  dim: DecodedDim;
}

/** A referral entry (subtype 1) to the DC at 127.0.0.1:`port` with subsystem NQN `subnqn`. */
export function referralEntry(
  port: number | string,
  subnqn: string,
  over: Partial<DiscoveryLogEntry> = {},
): DiscoveryLogEntry {
  return ioEntry(0, { subtype: SubType.referral, trsvcid: String(port), subnqn, ...over });
}

export function ioEntry(i: number, over: Partial<DiscoveryLogEntry> = {}): DiscoveryLogEntry {
  return {
    trtype: TrType.tcp,
    adrfam: AdrFam.ipv4,
    subtype: SubType.nvme,
    treq: 0,
    portid: 1,
    cntlid: 0xffff,
    asqsz: 32,
    eflags: 0,
    trsvcid: '4420',
    subnqn: `nqn.2024-01.io.stas-test:subsys${i}`,
    traddr: '127.0.0.1',
    tsas: new Uint8Array(256),
    ...over,
  };
}

interface Conn {
  socket: net.Socket;
  parser: PduParser;
  wire: SerializeOptions;
  hostNqn: string;
  cc: number;
  aerCids: number[];
  aecEnabled: boolean;
  /** An event occurred while no AER was outstanding: reported when the next AER arrives. */
  eventPending: boolean;
  stopped: boolean;
  /** Subsystem NQN of the accepted Fabrics Connect ('' before). */
  subnqn: string;
}

export class DiscoveryTarget {
  private server: net.Server | undefined;
  private readonly conns = new Set<Conn>();
  private entries: DiscoveryLogEntry[];
  genctr: bigint;
  readonly dimRecords: DimRecord[] = [];
  keepAlives = 0;
  logPageReads = 0;
  /** The Log Specific field (LSP: EXTDLPE/PLEO/ALLSUBE bits) of every discovery log page request, in order. */
  readonly logPageLsps: number[] = [];
  connectsAccepted = 0;
  /** The host NQN of every accepted Fabrics Connect, in order. */
  readonly connectHostNqns: string[] = [];
  misbehave: Misbehaviour | undefined;
  readonly subsysnqn: string;
  /** TCP connections accepted (whatever happened next). */
  connectionsAccepted = 0;
  /** Most connections open at once. */
  peakConnections = 0;
  /** Discovery log change AENs sent (setEntries, notify and storms). */
  aensSent = 0;
  /** Per subsystem NQN: connects, open connections, reads, AENs. */
  readonly perNqn = new Map<string, NqnStats>();
  private readonly encoded = new WeakMap<readonly DiscoveryLogEntry[], { genctr: bigint; page: Buffer }>();
  private storm: { pump: () => void } | undefined;

  constructor(private readonly opts: TargetOptions = {}) {
    this.entries = opts.entries ?? [];
    this.genctr = opts.genctr ?? 1n;
    this.misbehave = opts.misbehave;
    this.subsysnqn = opts.subsysnqn ?? WELL_KNOWN_DISC_NQN;
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  async start(): Promise<number> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    return this.port;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Number of open host connections. */
  get connections(): number {
    return this.conns.size;
  }

  /** Replaces the log, bumps GENCTR and sends a discovery log change AEN to every host that armed one. */
  setEntries(entries: DiscoveryLogEntry[]): void {
    this.entries = entries;
    this.notify();
  }

  /**
   * Bumps GENCTR and sends a discovery log change AEN to every host (connected to a subsystem NQN `which` accepts)
   * that armed one; a host without an armed AER gets it when it arms the next. For virtual DCs (logFor): change
   * what logFor returns, then notify.
   */
  notify(which: (subnqn: string) => boolean = () => true): void {
    this.genctr++;
    for (const c of this.conns) {
      if (!c.aecEnabled || !which(c.subnqn)) continue;
      if (!this.sendAen(c)) c.eventPending = true;
    }
  }

  /** Completes the oldest outstanding AER of `c` with a discovery log change notice; false if none is armed. */
  private sendAen(c: Conn): boolean {
    const cid = c.aerCids.shift();
    if (cid === undefined) return false;
    this.aensSent++;
    this.stats(c.subnqn).aens++;
    this.send(c, { type: 'capsule_resp', cqe: buildCqe({ cid, dw0: 0x70f002 }) });
    return true;
  }

  /**
   * An AEN storm: discovery log change notices at up to `perSecond` (token bucket) to every host connection
   * (connected to a subsystem NQN `which` accepts) with an armed AER, until `count` are sent. A controller completes
   * only the AERs the host armed, so the storm runs as fast as the host re-arms, at most `perSecond`. With
   * `churnGenctr` every notice bumps GENCTR (the log "changes" each time); without, the log stays the same.
   */
  aenStorm(o: {
    perSecond: number;
    count: number;
    churnGenctr?: boolean;
    which?: (subnqn: string) => boolean;
  }): AenStorm {
    const t0 = performance.now();
    let sent = 0;
    let finish: (n: number) => void = () => {};
    const done = new Promise<number>((r) => (finish = r));
    const stop = () => {
      clearInterval(timer);
      if (this.storm === storm) this.storm = undefined;
      finish(sent);
    };
    const pump = () => {
      const allowed = Math.min(o.count, Math.floor(((performance.now() - t0) * o.perSecond) / 1000) + 1);
      for (const c of this.conns) {
        if (sent >= allowed) break;
        if (!c.aecEnabled || c.stopped || c.aerCids.length === 0 || (o.which && !o.which(c.subnqn))) continue;
        if (o.churnGenctr) this.genctr++;
        this.sendAen(c);
        sent++;
      }
      if (sent >= o.count) stop();
    };
    const storm = { pump };
    this.storm = storm;
    const timer = setInterval(pump, 5);
    pump();
    return {
      get sent() {
        return sent;
      },
      done,
      stop,
    };
  }

  /** Connections (to subsystem NQNs `which` accepts) with an armed AER: those a storm or notify reaches now. */
  aersArmed(which: (subnqn: string) => boolean = () => true): number {
    let n = 0;
    for (const c of this.conns) if (c.aecEnabled && c.aerCids.length > 0 && which(c.subnqn)) n++;
    return n;
  }

  /** Stats of one subsystem NQN (created on first use). */
  stats(subnqn: string): NqnStats {
    let s = this.perNqn.get(subnqn);
    if (!s) {
      s = { accepted: 0, acceptedAt: [], open: 0, readStarts: 0, readEnds: 0, aens: 0 };
      this.perNqn.set(subnqn, s);
    }
    return s;
  }

  /** The log served on connection `c`: its virtual DC's (logFor), else the target's own. */
  private entriesOf(c: Conn): readonly DiscoveryLogEntry[] {
    return (c.subnqn && this.opts.logFor?.(c.subnqn)) || this.entries;
  }

  /** The encoded log of a virtual DC, cached per entries array and GENCTR. */
  private virtualLogPage(entries: readonly DiscoveryLogEntry[]): Buffer {
    if (this.misbehave?.kind === 'churn-genctr') this.genctr++;
    const hit = this.encoded.get(entries);
    if (hit?.genctr === this.genctr) return hit.page;
    const page = encodeDiscoveryLog(
      { genctr: this.genctr, numrec: BigInt(entries.length), recfmt: 0 },
      entries,
    );
    this.encoded.set(entries, { genctr: this.genctr, page });
    return page;
  }

  private logPage(): Buffer {
    if (this.misbehave?.kind === 'churn-genctr') this.genctr++;
    return encodeDiscoveryLog(
      { genctr: this.genctr, numrec: BigInt(this.entries.length), recfmt: 0 },
      this.entries,
    );
  }

  private accept(socket: net.Socket): void {
    const c: Conn = {
      socket,
      parser: new PduParser({ accept: new Set([PduType.ICReq, PduType.CapsuleCmd, PduType.H2CTermReq]) }),
      wire: { hdgst: false, ddgst: false, pda: 0 },
      hostNqn: '',
      cc: 0,
      aerCids: [],
      aecEnabled: false,
      eventPending: false,
      stopped: false,
      subnqn: '',
    };
    this.conns.add(c);
    this.connectionsAccepted++;
    this.peakConnections = Math.max(this.peakConnections, this.conns.size);
    socket.on('close', () => {
      this.conns.delete(c);
      if (c.subnqn) this.stats(c.subnqn).open--;
    });
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      let pdus: Pdu[];
      try {
        pdus = c.parser.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const p of pdus) this.onPdu(c, p);
    });
  }

  private send(c: Conn, pdu: Pdu): void {
    const bytes = serializePdu(pdu, c.wire);
    const delay = this.misbehave?.kind === 'slow' ? this.misbehave.delayMs : 0;
    if (delay > 0) setTimeout(() => !c.socket.destroyed && c.socket.write(bytes), delay);
    else if (!c.socket.destroyed) c.socket.write(bytes);
  }

  private sendData(c: Conn, cid: number, data: Buffer): void {
    const max = this.opts.maxDataPerPdu ?? 128 * 1024;
    for (let o = 0; o < data.length; o += max) {
      const part = data.subarray(o, o + max);
      this.send(c, {
        type: 'c2h_data',
        cccid: cid,
        datao: o,
        last: o + max >= data.length,
        success: false,
        data: part,
      });
    }
    this.send(c, { type: 'capsule_resp', cqe: buildCqe({ cid }) });
  }

  private onPdu(c: Conn, pdu: Pdu) {
    if (c.stopped) return;
    const mb = this.misbehave;
    if (pdu.type === 'icreq') {
      if (mb?.kind === 'never-answer' && mb.after === 'icreq') {
        c.stopped = true;
        return;
      }
      this.send(c, {
        type: 'icresp',
        pfv: 0,
        cpda: 0,
        hdgst: pdu.hdgst,
        ddgst: pdu.ddgst,
        maxh2cdata: this.opts.maxh2cdata ?? 1 << 20,
      });
      c.wire = { hdgst: pdu.hdgst, ddgst: pdu.ddgst, pda: 0 };
      c.parser.setDigests({ hdgst: pdu.hdgst, ddgst: pdu.ddgst });
      return;
    }
    if (pdu.type !== 'capsule_cmd') {
      c.socket.destroy();
      return;
    }
    const sqe = parseSqe(pdu.sqe);
    const ok = (dw0 = 0, dw1 = 0) =>
      this.send(c, { type: 'capsule_resp', cqe: buildCqe({ cid: sqe.cid, dw0, dw1 }) });
    const err = (sc: number, sct = 0) =>
      this.send(c, { type: 'capsule_resp', cqe: buildCqe({ cid: sqe.cid, status: { sc, sct, dnr: true } }) });
    if (this.opts.dhchap?.hostKey && this.dhchapCommand(c, sqe, pdu.data, ok, err)) return;
    switch (sqe.opcode) {
      case Opcode.Fabrics:
        if (sqe.fctype === FabricsType.Connect) {
          if (mb?.kind === 'never-answer' && mb.after === 'connect') {
            c.stopped = true;
            return;
          }
          const d = Buffer.from(pdu.data);
          const subnqn = d.subarray(256, 512).toString('latin1').replace(/\0.*$/s, '');
          c.hostNqn = d.subarray(512, 768).toString('latin1').replace(/\0.*$/s, '');
          const virtual = this.opts.logFor?.(subnqn) !== undefined;
          if (!virtual && subnqn !== this.subsysnqn && subnqn !== WELL_KNOWN_DISC_NQN) return err(0x84, 1); // Connect Invalid Parameters
          this.connectsAccepted++;
          c.subnqn = subnqn;
          const st = this.stats(subnqn);
          st.accepted++;
          st.acceptedAt.push(performance.now());
          st.open++;
          this.connectHostNqns.push(c.hostNqn);
          return ok(1 | (this.opts.dhchap?.hostKey ? ConnectAuthReq.ATR : 0));
        }
        if (sqe.fctype === FabricsType.PropertyGet) {
          const off = sqe.cdw(11);
          if (off === Property.CAP) return ok(127 | (1 << 24), 0); // MQES 127, TO 500 ms
          if (off === Property.VS) return ok(0x10300);
          if (off === Property.CSTS) {
            const rdy = c.cc & 1 ? 1 : 0;
            const shst = (c.cc >> 14) & 3 ? 0x8 : 0;
            return ok(rdy | shst);
          }
          return ok(c.cc);
        }
        if (sqe.fctype === FabricsType.PropertySet) {
          if (sqe.cdw(11) === Property.CC) c.cc = sqe.cdw(12);
          return ok();
        }
        return err(0x01); // Invalid Command Opcode
      case Opcode.Identify: {
        if (mb?.kind === 'malformed-pdu' && mb.on === 'identify') return this.sendMalformed(c);
        const id = encodeIdentifyController({
          model: 'stas test target',
          serial: 'STAS0001',
          firmware: '1.0',
          cntlid: 1,
          mdts: 5,
          oaes: 0x80000000,
          cntrltype: 2,
          kas: 100,
          subnqn: c.subnqn && this.opts.logFor?.(c.subnqn) ? c.subnqn : this.subsysnqn,
          dctype: this.opts.dctype === 'cdc' ? 2 : this.opts.dctype === 'ddc' ? 1 : 0,
        });
        // What the kernel's NVMe/TCP host requires of a fabrics controller (so that it can reach this double too):
        // a MAXCMD and SGL support.
        id.writeUInt16LE(128, 514); // MAXCMD
        id.writeUInt32LE(1, 536); // SGLS: SGLs supported
        return this.sendData(c, sqe.cid, id.subarray(0, IDENTIFY_DATA_LENGTH));
      }
      case Opcode.GetLogPage: {
        const cdw10 = sqe.cdw(10);
        const lid = cdw10 & 0xff;
        const lsp = (cdw10 >> 8) & 0x7f;
        const numd = ((cdw10 >>> 16) | ((sqe.cdw(11) & 0xffff) << 16)) + 1;
        const offset = sqe.cdw(12) + sqe.cdw(13) * 2 ** 32;
        const length = numd * 4;
        let page: Buffer;
        if (lid === LogPage.Discovery) {
          this.logPageReads++;
          this.logPageLsps.push(lsp);
          const rae = (cdw10 & 0x8000) !== 0;
          if (offset === 0 && rae) this.stats(c.subnqn).readStarts++;
          if (offset === 0 && !rae) {
            this.stats(c.subnqn).readEnds++;
            if (mb?.kind === 'close-after-log-read') setImmediate(() => c.socket.destroy());
          }
          if (mb?.kind === 'malformed-pdu' && mb.on === 'log-page') return this.sendMalformed(c);
          if (mb?.kind === 'oversize-pdu') {
            const h = Buffer.alloc(24);
            h.writeUInt8(PduType.C2HData, 0);
            h.writeUInt8(24, 2);
            h.writeUInt8(24, 3);
            h.writeUInt32LE(1 << 30, 4);
            c.socket.write(h);
            return;
          }
          if (lsp & DiscoveryLsp.PLEO && !this.opts.pleoSupported) return err(0x02); // Invalid Field
          page =
            c.subnqn && this.opts.logFor?.(c.subnqn)
              ? this.virtualLogPage(this.entriesOf(c))
              : this.logPage();
          if (this.opts.numrecLie !== undefined) {
            page = Buffer.from(page);
            page.writeBigUInt64LE(BigInt(this.opts.numrecLie), 8);
          }
        } else if (lid === LogPage.SupportedLogPages) {
          page = Buffer.alloc(1024);
          page.writeUInt32LE(1, 0);
          page.writeUInt32LE((1 | ((this.opts.pleoSupported ? 0x2 : 0) << 16)) >>> 0, LogPage.Discovery * 4);
        } else {
          return err(0x09, 1); // Invalid Log Page
        }
        const out = Buffer.alloc(length);
        page.copy(out, 0, Math.min(offset, page.length), Math.min(page.length, offset + length));
        if (mb?.kind === 'close-mid-transfer' && lid === LogPage.Discovery && length > 1024) {
          this.send(c, {
            type: 'c2h_data',
            cccid: sqe.cid,
            datao: 0,
            last: false,
            success: false,
            data: out.subarray(0, length / 2),
          });
          setImmediate(() => c.socket.destroy());
          return;
        }
        const short = this.opts.shortLogTransfers && lid === LogPage.Discovery;
        return this.sendData(c, sqe.cid, short ? out.subarray(0, Math.max(0, page.length - offset)) : out);
      }
      case Opcode.SetFeatures:
        if ((sqe.cdw(10) & 0xff) === Feature.AsyncEventConfig) {
          c.aecEnabled = (sqe.cdw(11) & 0x80000000) !== 0;
          return ok();
        }
        return err(0x02);
      case Opcode.AsyncEventRequest:
        if (c.eventPending && c.aecEnabled) {
          c.eventPending = false;
          return ok(0x70f002);
        }
        c.aerCids.push(sqe.cid);
        this.storm?.pump();
        return;
      case Opcode.KeepAlive:
        this.keepAlives++;
        return ok();
      case Opcode.DiscoveryInfoMgmt: {
        if (this.opts.dctype !== 'cdc') return err(0x01);
        try {
          const dim = decodeDim(pdu.data);
          this.dimRecords.push({ task: sqe.cdw(10) & 0xf, hostNqn: c.hostNqn, dim });
          return ok();
        } catch {
          return err(0x02);
        }
      }
      default:
        return err(0x01);
    }
  }

  private sendMalformed(c: Conn): void {
    // A CapsuleResp whose HLEN is wrong: the host must close this connection and only this one.
    c.socket.write(Buffer.from('05001900190000000000000000000000000000000000000000', 'hex'));
  }

  /** Connections that completed DH-HMAC-CHAP. */
  dhchapAuthenticated = 0;
  /** Admin commands refused because the connection had not authenticated (AUTH_REQUIRED). */
  dhchapRefusedCommands = 0;
  /** The reason code explanation of every AUTH_Failure2 a host sent. */
  readonly dhchapFailure2: number[] = [];
  private readonly dhchapConns = new WeakMap<Conn, { ctrl: AuthController; authenticated: boolean }>();

  /**
   * The controller side of in-band authentication (the kernel target's rules: nvmet_check_auth_status refuses every
   * command but Connect and AUTH_Send/AUTH_Receive until the queue authenticated; a failure ends the association).
   * True when the command was handled here.
   */
  private dhchapCommand(
    c: Conn,
    sqe: SqeFields,
    data: Uint8Array,
    ok: () => void,
    err: (sc: number, sct?: number) => void,
  ): boolean {
    const o = this.opts.dhchap!;
    const isFabrics = sqe.opcode === Opcode.Fabrics;
    if (isFabrics && sqe.fctype === FabricsType.Connect) return false;
    let st = this.dhchapConns.get(c);
    const auth =
      isFabrics && (sqe.fctype === FabricsAuthType.AuthSend || sqe.fctype === FabricsAuthType.AuthReceive);
    if (!auth) {
      if (st?.authenticated) return false;
      this.dhchapRefusedCommands++;
      err(AUTH_REQUIRED_STATUS.sc, AUTH_REQUIRED_STATUS.sct);
      return true;
    }
    const secp = (sqe.cdw(10) >>> 24) & 0xff;
    const spsp = (sqe.cdw(10) >>> 8) & 0xffff;
    const length = sqe.cdw(11);
    if (secp !== AUTH_SECP_DHCHAP || spsp !== 0x0101 || length === 0) {
      err(0x02); // Invalid Field
      return true;
    }
    if (!st) {
      st = {
        ctrl: new AuthController({
          subsysNqn: c.subnqn,
          hostNqn: c.hostNqn,
          hostKey: parseDhchapSecret(o.hostKey!),
          ctrlKey: o.ctrlKey ? parseDhchapSecret(o.ctrlKey) : undefined,
          hashId: hashIdOf(o.hash ?? 'sha256'),
          dhGroupId: dhGroupIdOf(o.dhgroup ?? 'null'),
          random: randomBytes,
          ...(o.misbehave === 'replay-seqnum' ? { seqnum: () => 0x5eed } : {}),
        }),
        authenticated: false,
      };
      this.dhchapConns.set(c, st);
    }
    if (sqe.fctype === FabricsAuthType.AuthSend) {
      if (data.length !== length) {
        err(0x02);
        return true;
      }
      try {
        const m = decodeAuthMessage(data);
        if (m.kind === 'failure2') this.dhchapFailure2.push(m.explanation);
      } catch {
        // Malformed: the controller refuses it.
      }
      st.ctrl.send(data);
      ok();
    } else {
      const out = Buffer.alloc(length);
      this.dhchapMisbehave(c, st.ctrl.receive()).copy(out);
      this.sendData(c, sqe.cid, out);
    }
    if (st.ctrl.authenticated && !st.authenticated) {
      st.authenticated = true;
      this.dhchapAuthenticated++;
    }
    if (st.ctrl.fatal) setImmediate(() => c.socket.end()); // after the answer is out
    return true;
  }

  /** A controller message as the misbehaving controller sends it. */
  private dhchapMisbehave(c: Conn, message: Buffer): Buffer {
    const m = decodeAuthMessage(message);
    switch (this.opts.dhchap?.misbehave) {
      case 'bad-tid':
        return m.kind === 'challenge' ? encodeAuthMessage({ ...m, tid: (m.tid + 1) & 0xffff }) : message;
      case 'unexpected-message':
        return m.kind === 'challenge'
          ? encodeAuthMessage({
              kind: 'success1',
              tid: m.tid,
              hashLength: m.challenge.length,
              response: undefined,
            })
          : message;
      case 'wrong-response':
        if (m.kind === 'success1' && m.response) m.response[0]! ^= 0xff;
        return m.kind === 'success1' ? encodeAuthMessage(m) : message;
      case 'skip-success1':
        if (m.kind !== 'success1' || !m.response) return message;
        // Claims success without answering the host's challenge, and takes the host as authenticated.
        this.dhchapConns.get(c)!.authenticated = true;
        return encodeAuthMessage({ ...m, response: undefined });
      default:
        return message;
    }
  }
}

/** What `dhchap` of TargetOptions configures. */
export interface DhchapTargetOptions {
  /** The host's secret (DHHC-1 text) the controller checks; without one it requires no authentication. */
  hostKey?: string;
  /** The controller's secret, to answer a host that asks it to prove itself; without one such a host is refused. */
  ctrlKey?: string;
  /** The hash the controller chooses (default sha256); a host that does not offer it is refused. */
  hash?: HashName;
  /** The DH group the controller chooses (default null); a host that does not offer it is refused. */
  dhgroup?: DhGroupName;
  /**
   * bad-tid: the challenge carries another T_ID; unexpected-message: a Success1 instead of the challenge;
   * wrong-response: the controller's response (R2) is wrong; skip-success1: Success1 without R2 (the controller does
   * not prove itself); replay-seqnum: every challenge has the same sequence number (S1).
   */
  misbehave?: 'bad-tid' | 'unexpected-message' | 'wrong-response' | 'skip-success1' | 'replay-seqnum';
}
