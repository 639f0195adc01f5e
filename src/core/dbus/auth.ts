/**
 * The client side of the D-Bus authentication conversation (D-Bus specification, "Authentication Protocol"),
 * as a pure state machine: the caller writes what start()/receive() return and feeds back each server line.
 * Mechanisms: EXTERNAL (the uid), DBUS_COOKIE_SHA1 (the caller reads the cookie and computes the SHA-1) and
 * ANONYMOUS. NEGOTIATE_UNIX_FD is not used.
 */
import { DBusWireError } from './errors.js';

export type AuthMechanism = 'EXTERNAL' | 'DBUS_COOKIE_SHA1' | 'ANONYMOUS';

export type AuthStep =
  | { kind: 'send'; data: string }
  | { kind: 'cookie'; context: string; id: string; serverChallenge: string }
  | { kind: 'ok'; guid: string; data: string }
  | { kind: 'fail'; reason: string };

const DEFAULT_MECHANISMS: AuthMechanism[] = ['EXTERNAL', 'DBUS_COOKIE_SHA1', 'ANONYMOUS'];
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const HEX = /^(?:[0-9A-Fa-f]{2})*$/;
/** Cookie contexts name a file in ~/.dbus-keyrings: ASCII without / \ . or white space (specification). */
const CONTEXT = /^[\x21-\x2d\x30-\x5b\x5d-\x7e]+$/;

type State = 'new' | 'waitOk' | 'waitData' | 'waitCookie' | 'waitReject' | 'done';

export class SaslClient {
  private readonly uid: number;
  private readonly mechanisms: AuthMechanism[];
  private readonly tried = new Set<AuthMechanism>();
  private state: State = 'new';

  /** `mechanisms`: in order of preference, each an AuthMechanism (else DBusWireError); default all three. */
  constructor(opts: { uid: number; mechanisms?: readonly string[] }) {
    if (!Number.isSafeInteger(opts.uid) || opts.uid < 0) throw new DBusWireError(`bad uid ${opts.uid}`);
    this.uid = opts.uid;
    const list = opts.mechanisms ?? DEFAULT_MECHANISMS;
    for (const m of list)
      if (!(DEFAULT_MECHANISMS as readonly string[]).includes(m))
        throw new DBusWireError(`unsupported authentication mechanism "${m}"`);
    this.mechanisms = [...new Set(list)] as AuthMechanism[];
    if (this.mechanisms.length === 0) throw new DBusWireError('no authentication mechanism');
  }

  /** The first bytes to write: the NUL byte and the AUTH command of the first mechanism. */
  start(): string {
    if (this.state !== 'new') throw new DBusWireError('authentication already started');
    return '\0' + this.auth(this.mechanisms[0]!);
  }

  /** The next step after one server line (without its CRLF). */
  receive(line: string): AuthStep {
    const sp = line.indexOf(' ');
    const cmd = sp < 0 ? line : line.slice(0, sp);
    const arg = sp < 0 ? '' : line.slice(sp + 1).trim();
    switch (this.state) {
      case 'waitOk':
      case 'waitData':
        if (cmd === 'OK') return this.ok(arg);
        if (cmd === 'REJECTED') return this.next(arg);
        if (cmd === 'ERROR') return this.cancel();
        if (cmd === 'DATA') return this.state === 'waitData' ? this.challenge(arg) : this.cancel();
        return this.fail(`unexpected reply "${line.slice(0, 80)}"`);
      case 'waitReject':
        if (cmd === 'REJECTED') return this.next(arg);
        return this.fail(`unexpected reply "${line.slice(0, 80)}" after CANCEL`);
      case 'waitCookie':
        return this.fail('server line before the cookie answer');
      case 'new':
        return this.fail('server line before start()');
      case 'done':
        return this.fail('authentication already finished');
    }
  }

  /**
   * The DATA line answering a 'cookie' step: `clientChallengeHex` is the client's random challenge (hex),
   * `sha1Hex` the SHA-1 (hex) of "serverChallenge:clientChallenge:cookie".
   */
  cookieAnswer(clientChallengeHex: string, sha1Hex: string): string {
    if (this.state !== 'waitCookie') throw new DBusWireError('no cookie challenge to answer');
    if (!/^[0-9A-Fa-f]+$/.test(clientChallengeHex)) throw new DBusWireError('client challenge is not hex');
    if (!/^[0-9A-Fa-f]{40}$/.test(sha1Hex)) throw new DBusWireError('not a SHA-1 in hex');
    this.state = 'waitOk';
    return `DATA ${hex(`${clientChallengeHex} ${sha1Hex.toLowerCase()}`)}\r\n`;
  }

  /** Gives up on the cookie challenge (say, no cookie could be read): the CANCEL line to send. */
  cancelCookie(): string {
    if (this.state !== 'waitCookie') throw new DBusWireError('no cookie challenge to cancel');
    return (this.cancel() as { data: string }).data;
  }

  private auth(m: AuthMechanism): string {
    this.tried.add(m);
    this.state = m === 'DBUS_COOKIE_SHA1' ? 'waitData' : 'waitOk';
    const initial = m === 'ANONYMOUS' ? hex('stas') : hex(String(this.uid));
    return `AUTH ${m} ${initial}\r\n`;
  }

  private ok(guid: string): AuthStep {
    if (!/^[0-9A-Fa-f]{32}$/.test(guid)) return this.fail(`bad server GUID "${guid.slice(0, 80)}"`);
    this.state = 'done';
    return { kind: 'ok', guid, data: 'BEGIN\r\n' };
  }

  private next(serverList: string): AuthStep {
    const offered = new Set(serverList.split(' ').filter((s) => s !== ''));
    const m = this.mechanisms.find((x) => !this.tried.has(x) && offered.has(x));
    if (m === undefined)
      return this.fail(`authentication rejected (server offers: ${[...offered].join(' ') || 'nothing'})`);
    return { kind: 'send', data: this.auth(m) };
  }

  private cancel(): AuthStep {
    this.state = 'waitReject';
    return { kind: 'send', data: 'CANCEL\r\n' };
  }

  private challenge(arg: string): AuthStep {
    if (!HEX.test(arg)) return this.cancel();
    const [context = '', id = '', serverChallenge = '', ...extra] = Buffer.from(arg, 'hex')
      .toString('latin1')
      .split(' ');
    if (
      !CONTEXT.test(context) ||
      !/^\d+$/.test(id) ||
      !/^[\x21-\x7e]+$/.test(serverChallenge) ||
      extra.length > 0
    )
      return this.cancel();
    this.state = 'waitCookie';
    return { kind: 'cookie', context, id, serverChallenge };
  }

  private fail(reason: string): AuthStep {
    this.state = 'done';
    return { kind: 'fail', reason };
  }
}

/** The longest line the server may send, CRLF excluded. */
export const MAX_AUTH_LINE = 16384;

/** Splits the server's side of the conversation into lines (CRLF-terminated, ASCII). */
export class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);

  /** The complete lines so far (without CRLF), and the bytes after the last one (kept for the next push). */
  push(chunk: Buffer): { lines: string[]; rest: Buffer } {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const lines: string[] = [];
    for (;;) {
      const i = buf.indexOf('\r\n');
      if (i < 0) break;
      if (i > MAX_AUTH_LINE)
        throw new DBusWireError(`authentication line longer than ${MAX_AUTH_LINE} bytes`);
      lines.push(buf.toString('latin1', 0, i));
      buf = buf.subarray(i + 2);
    }
    if (buf.length > MAX_AUTH_LINE + 1)
      throw new DBusWireError(`authentication line longer than ${MAX_AUTH_LINE} bytes`);
    this.rest = Buffer.from(buf);
    return { lines, rest: this.rest };
  }
}
