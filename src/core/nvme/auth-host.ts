/**
 * The host side of DH-HMAC-CHAP as pure data: feed it what the controller returns for AUTH_Receive, it says what to
 * send with AUTH_Send next, or how the exchange ended. Randomness (T_ID, C2, S2, the DH private key) is injected.
 *
 * The exchange (NVMe Base Specification 2.0, 8.13.5; the Linux host, drivers/nvme/host/auth.c nvme_queue_auth_work):
 *   host  AUTH_Send    AUTH_Negotiate (all hashes and DH groups this host accepts, SC_C 0)
 *   host  AUTH_Receive DH-HMAC-CHAP_Challenge, or AUTH_Failure1
 *   host  AUTH_Send    DH-HMAC-CHAP_Reply (R1, the host's DH value, and C2/S2 when the controller must prove itself)
 *   host  AUTH_Receive DH-HMAC-CHAP_Success1 (R2 when bidirectional), or AUTH_Failure1
 *   host  AUTH_Send    DH-HMAC-CHAP_Success2 (bidirectional only)
 * A fault the host detects in a controller message ends the exchange with AUTH_Failure2 (as the kernel does); an
 * AUTH_Failure1 from the controller ends it without one.
 *
 * Stricter than the kernel host where the kernel trusts the controller: with a controller secret, a Success1 without
 * R2 is refused (the controller did not prove itself); a challenge with a sequence number this host already
 * answered for the same controller (SeqnumHistory) is refused as a replay; a hash or DH group it did not offer is
 * refused; a DH value must be exactly as long as the group's prime.
 */
import {
  augmentedChallenge,
  controllerResponse,
  type DhchapKey,
  hashLength,
  hashName,
  hostResponse,
  isHashId,
  sameResponse,
  transformKey,
  wipe,
} from './auth-crypto.js';
import {
  DH_PRIVATE_KEY_LENGTH,
  dhGroupName,
  dhPublicValue,
  dhSharedSecret,
  isDhGroupId,
} from './auth-ffdhe.js';
import {
  type AuthMessage,
  DHCHAP_AUTH_ID,
  DhchapError,
  DhGroupId,
  type DhGroupIdCode,
  decodeAuthMessage,
  describeExplanation,
  encodeAuthMessage,
  FailureExplanation,
  FailureReason,
  HashId,
  type HashIdCode,
  MESSAGE_NAMES,
} from './auth-messages.js';
import type { SeqnumHistory } from './seqnum-history.js';

// Its own module (stafd's runner needs it without the authentication code); still exported here.
export { SeqnumHistory } from './seqnum-history.js';

export interface AuthHostOptions {
  hostNqn: string;
  /** The controller's subsystem NQN (the one the Connect named). */
  subsysNqn: string;
  /** The host's secret (dhchap_secret), parsed. */
  hostKey: DhchapKey;
  /** The controller's secret (dhchap_ctrl_secret): when set, the controller must prove itself (bidirectional). */
  ctrlKey?: DhchapKey | undefined;
  /** `n` random bytes. */
  random: (n: number) => Uint8Array;
  /** T_ID of the transaction (default: random). */
  tid?: number;
  /** Hashes offered, in order of preference (default: SHA-256, SHA-384, SHA-512, as the kernel offers). */
  hashes?: readonly HashIdCode[];
  /** DH groups offered (default: NULL and all five ffdhe groups, as the kernel offers). */
  dhGroups?: readonly DhGroupIdCode[];
  /** S1 values answered before for this controller (a repeated one is refused); updated by each challenge. */
  seqnums?: SeqnumHistory;
}

export interface AuthOutcome {
  hashId: HashIdCode;
  dhGroupId: DhGroupIdCode;
  /** The controller proved itself too. */
  bidirectional: boolean;
}

export type AuthHostStep =
  /** AUTH_Send `message`, then AUTH_Receive and feed the data to receive(). */
  | { kind: 'send'; message: Buffer; next: 'receive' }
  /** AUTH_Send `message`: then the exchange succeeded. */
  | { kind: 'send'; message: Buffer; next: 'done'; outcome: AuthOutcome }
  /** The exchange succeeded; nothing more to send. */
  | { kind: 'done'; outcome: AuthOutcome }
  /** The exchange failed: AUTH_Send `failure2` if any (best effort), then give up on the connection. */
  | { kind: 'failed'; error: DhchapError; failure2: Buffer | undefined };

const ALL_HASHES: readonly HashIdCode[] = [HashId.SHA256, HashId.SHA384, HashId.SHA512];
const ALL_GROUPS: readonly DhGroupIdCode[] = [
  DhGroupId.NULL,
  DhGroupId.FFDHE2048,
  DhGroupId.FFDHE3072,
  DhGroupId.FFDHE4096,
  DhGroupId.FFDHE6144,
  DhGroupId.FFDHE8192,
];

function randomU16(random: (n: number) => Uint8Array): number {
  return Buffer.from(random(2)).readUInt16LE(0);
}

/** A non-zero sequence number (0 in a Reply means: no bidirectional authentication). */
function randomSeqnum(random: (n: number) => Uint8Array): number {
  for (;;) {
    const s = Buffer.from(random(4)).readUInt32LE(0);
    if (s !== 0) return s;
  }
}

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}

export class AuthHost {
  private state: 'new' | 'challenge' | 'success1' | 'finished' = 'new';
  readonly tid: number;
  private readonly hashes: readonly HashIdCode[];
  private readonly dhGroups: readonly DhGroupIdCode[];
  private hashId: HashIdCode = HashId.SHA256;
  private dhGroupId: DhGroupIdCode = DhGroupId.NULL;
  /** R2 the controller must return (bidirectional), computed with the challenge and wiped at the end. */
  private expectedR2: Buffer | undefined;

  constructor(private readonly o: AuthHostOptions) {
    this.tid = o.tid ?? randomU16(o.random);
    this.hashes = o.hashes ?? ALL_HASHES;
    this.dhGroups = o.dhGroups ?? ALL_GROUPS;
    if (this.hashes.length === 0 || this.dhGroups.length === 0)
      throw new RangeError('at least one hash and one DH group must be offered');
  }

  /** The first step: AUTH_Negotiate. */
  start(): AuthHostStep {
    if (this.state !== 'new') throw new Error('the DH-HMAC-CHAP exchange has already started');
    this.state = 'challenge';
    const message = encodeAuthMessage({
      kind: 'negotiate',
      tid: this.tid,
      scC: 0,
      protocols: [{ authId: DHCHAP_AUTH_ID, hashes: [...this.hashes], dhGroups: [...this.dhGroups] }],
    });
    return { kind: 'send', message, next: 'receive' };
  }

  /** The data of an AUTH_Receive. */
  receive(data: Uint8Array): AuthHostStep {
    if (this.state !== 'challenge' && this.state !== 'success1')
      throw new Error('the DH-HMAC-CHAP exchange expects no controller message now');
    const expected = this.state === 'challenge' ? 'challenge' : 'success1';
    let m: AuthMessage;
    try {
      m = decodeAuthMessage(data);
      if (m.kind === 'failure1') {
        return this.fail(
          new DhchapError(
            `controller refused authentication: ${describeExplanation(m.explanation)}`,
            m.explanation,
            true,
          ),
          false,
        );
      }
      if (m.kind !== expected) {
        throw new DhchapError(
          `expected ${MESSAGE_NAMES[expected]}, the controller sent ${MESSAGE_NAMES[m.kind]}`,
          FailureExplanation.IncorrectMessage,
        );
      }
      if (m.tid !== this.tid)
        throw new DhchapError(
          `controller message carries T_ID ${m.tid}, the transaction is ${this.tid}`,
          FailureExplanation.IncorrectMessage,
        );
      return m.kind === 'challenge'
        ? this.onChallenge(m)
        : this.onSuccess1(m as Extract<AuthMessage, { kind: 'success1' }>);
    } catch (e) {
      if (e instanceof DhchapError) return this.fail(e, true);
      this.finish();
      throw e;
    }
  }

  private onChallenge(m: Extract<AuthMessage, { kind: 'challenge' }>): AuthHostStep {
    if (!isHashId(m.hashId) || !this.hashes.includes(m.hashId))
      throw new DhchapError(
        `controller chose hash ${hex(m.hashId, 2)}, which the host did not offer (${this.hashes.map(hashName).join(', ')})`,
        FailureExplanation.HashUnusable,
      );
    const hl = hashLength(m.hashId);
    if (m.challenge.length !== hl)
      throw new DhchapError(
        `challenge of ${m.challenge.length} bytes for ${hashName(m.hashId)} (${hl} expected)`,
        FailureExplanation.HashUnusable,
      );
    if (!isDhGroupId(m.dhGroupId) || !this.dhGroups.includes(m.dhGroupId))
      throw new DhchapError(
        `controller chose ${dhGroupName(m.dhGroupId)}, which the host did not offer (${this.dhGroups.map(dhGroupName).join(', ')})`,
        FailureExplanation.DhGroupUnusable,
      );
    if (m.dhGroupId === DhGroupId.NULL && m.dhValue.length !== 0)
      throw new DhchapError(
        'challenge carries a DH value with the NULL DH group',
        FailureExplanation.IncorrectPayload,
      );
    if (m.dhGroupId !== DhGroupId.NULL && m.dhValue.length === 0)
      throw new DhchapError(
        `challenge carries no DH value for ${dhGroupName(m.dhGroupId)}`,
        FailureExplanation.DhGroupUnusable,
      );
    if (this.o.seqnums?.has(m.seqnum))
      throw new DhchapError(
        `challenge reuses sequence number ${hex(m.seqnum, 8)} (a replayed challenge)`,
        FailureExplanation.IncorrectPayload,
      );
    this.o.seqnums?.add(m.seqnum);
    this.hashId = m.hashId;
    this.dhGroupId = m.dhGroupId;

    let privateKey: Buffer | undefined;
    let sessionKey: Buffer | undefined;
    let hostValue: Buffer = Buffer.alloc(0);
    const secrets: (Buffer | undefined)[] = [];
    try {
      if (m.dhGroupId !== DhGroupId.NULL) {
        privateKey = Buffer.from(this.o.random(DH_PRIVATE_KEY_LENGTH));
        secrets.push(privateKey);
        sessionKey = dhSharedSecret(m.dhGroupId, privateKey, m.dhValue);
        secrets.push(sessionKey);
        hostValue = dhPublicValue(m.dhGroupId, privateKey);
      }
      const c1 = sessionKey ? augmentedChallenge(m.hashId, sessionKey, m.challenge) : m.challenge;
      secrets.push(c1);
      const kh = transformKey(this.o.hostKey, this.o.hostNqn);
      secrets.push(kh);
      const common = {
        hashId: m.hashId,
        tid: this.tid,
        hostNqn: this.o.hostNqn,
        subsysNqn: this.o.subsysNqn,
      };
      const r1 = hostResponse({ ...common, key: kh, challenge: c1, seqnum: m.seqnum });
      let c2: Buffer | undefined;
      let s2 = 0;
      if (this.o.ctrlKey) {
        c2 = Buffer.from(this.o.random(hl));
        s2 = randomSeqnum(this.o.random);
        const c2a = sessionKey ? augmentedChallenge(m.hashId, sessionKey, c2) : c2;
        if (c2a !== c2) secrets.push(c2a);
        const kc = transformKey(this.o.ctrlKey, this.o.subsysNqn);
        secrets.push(kc);
        this.expectedR2 = controllerResponse({ ...common, key: kc, challenge: c2a, seqnum: s2 });
      }
      this.state = 'success1';
      const message = encodeAuthMessage({
        kind: 'reply',
        tid: this.tid,
        response: r1,
        challenge: c2,
        seqnum: s2,
        dhValue: hostValue,
      });
      wipe(r1);
      return { kind: 'send', message, next: 'receive' };
    } finally {
      wipe(...secrets.filter((b) => b !== m.challenge));
    }
  }

  private onSuccess1(m: Extract<AuthMessage, { kind: 'success1' }>): AuthHostStep {
    const hl = hashLength(this.hashId);
    if (m.hashLength !== hl)
      throw new DhchapError(
        `Success1 HL ${m.hashLength} does not match ${hashName(this.hashId)} (${hl})`,
        FailureExplanation.HashUnusable,
      );
    const outcome: AuthOutcome = {
      hashId: this.hashId,
      dhGroupId: this.dhGroupId,
      bidirectional: this.expectedR2 !== undefined,
    };
    if (this.expectedR2) {
      if (!m.response)
        throw new DhchapError(
          'controller did not prove its identity (Success1 without a response to the host challenge)',
          FailureExplanation.Failed,
        );
      if (!sameResponse(m.response, this.expectedR2))
        throw new DhchapError(
          'controller failed to prove its identity (wrong response to the host challenge)',
          FailureExplanation.Failed,
        );
      this.finish();
      return {
        kind: 'send',
        message: encodeAuthMessage({ kind: 'success2', tid: this.tid }),
        next: 'done',
        outcome,
      };
    }
    if (m.response)
      throw new DhchapError(
        'controller answered a challenge the host did not send (Success1 with a response)',
        FailureExplanation.IncorrectPayload,
      );
    this.finish();
    return { kind: 'done', outcome };
  }

  private fail(error: DhchapError, sendFailure2: boolean): AuthHostStep {
    this.finish();
    const failure2 = sendFailure2
      ? encodeAuthMessage({
          kind: 'failure2',
          tid: this.tid,
          reason: FailureReason.Failed,
          explanation: error.explanation,
        })
      : undefined;
    return { kind: 'failed', error, failure2 };
  }

  /** Ends the exchange and wipes what it kept (call it when abandoning an exchange halfway). */
  finish(): void {
    this.state = 'finished';
    wipe(this.expectedR2);
    this.expectedR2 = undefined;
  }
}

/** AUTH_Send and AUTH_Receive on the connection being authenticated (the session provides them). */
export interface AuthTransport {
  send(message: Buffer): Promise<void>;
  receive(): Promise<Uint8Array>;
}

/**
 * Runs a whole exchange over `io`. Resolves with the outcome; rejects with DhchapError when the exchange failed
 * (after a best-effort AUTH_Failure2), or with the transport's error.
 */
export async function authenticateHost(host: AuthHost, io: AuthTransport): Promise<AuthOutcome> {
  try {
    let step = host.start();
    for (;;) {
      switch (step.kind) {
        case 'send':
          await io.send(step.message);
          if (step.next === 'done') return step.outcome;
          step = host.receive(await io.receive());
          break;
        case 'done':
          return step.outcome;
        case 'failed':
          if (step.failure2) await io.send(step.failure2).catch(() => {});
          throw step.error;
      }
    }
  } finally {
    host.finish();
  }
}
