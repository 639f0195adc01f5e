/**
 * The controller side of DH-HMAC-CHAP as pure data, for test doubles: it takes the host's AUTH_Send data and says
 * what to return for AUTH_Receive, stepping as the Linux target does (drivers/nvme/target/fabrics-cmd-auth.c
 * nvmet_execute_auth_send / nvmet_execute_auth_receive): Negotiate → Challenge → Reply → Success1 → Success2, a fault
 * answered with AUTH_Failure1 on the next AUTH_Receive, after which the controller ends the association. It shares
 * the computations of auth-crypto.ts with the host; the proof against an independent implementation is the lab
 * (the kernel target).
 */
import {
  augmentedChallenge,
  controllerResponse,
  type DhchapKey,
  hashLength,
  hostResponse,
  sameResponse,
  transformKey,
  wipe,
} from './auth-crypto.js';
import { checkDhValue, DH_PRIVATE_KEY_LENGTH, dhPublicValue, dhSharedSecret } from './auth-ffdhe.js';
import {
  type AuthMessage,
  DHCHAP_AUTH_ID,
  DhchapError,
  DhGroupId,
  type DhGroupIdCode,
  decodeAuthMessage,
  encodeAuthMessage,
  FailureExplanation,
  FailureReason,
  type HashIdCode,
} from './auth-messages.js';

export interface AuthControllerOptions {
  subsysNqn: string;
  /** The host NQN of the Connect. */
  hostNqn: string;
  /** The host's secret: the host must prove it knows it. */
  hostKey: DhchapKey;
  /** The controller's secret: answers a host challenge (bidirectional); without it such a host is refused. */
  ctrlKey?: DhchapKey | undefined;
  /** The hash and DH group this controller uses (refused with Failure1 when the host does not offer them). */
  hashId: HashIdCode;
  dhGroupId: DhGroupIdCode;
  random: (n: number) => Uint8Array;
  /** S1 of each challenge (default: random, non-zero). */
  seqnum?: () => number;
}

type Step = 'negotiate' | 'challenge' | 'reply' | 'success1' | 'success2' | 'failure1' | 'done' | 'failed';

export class AuthController {
  private step: Step = 'negotiate';
  private tid = 0;
  private c1: Buffer | undefined;
  private s1 = 0;
  private c2: Buffer | undefined;
  private s2 = 0;
  private privateKey: Buffer | undefined;
  private sessionKey: Buffer | undefined;
  /** The host proved itself (and, when it asked, saw the controller's proof). */
  authenticated = false;
  /** The reason code explanation of the failure, once the exchange failed. */
  failure: number | undefined;

  constructor(private readonly o: AuthControllerOptions) {}

  /** The controller ends the association (a failure was reported, or the host sent Failure2). */
  get fatal(): boolean {
    return this.step === 'failed';
  }

  private refuse(explanation: number): false {
    this.step = 'failure1';
    this.failure = explanation;
    this.authenticated = false;
    this.wipe();
    return false;
  }

  /** The data of an AUTH_Send. False: refused (the next AUTH_Receive returns Failure1, or the association ends). */
  send(data: Uint8Array): boolean {
    let m: AuthMessage;
    try {
      m = decodeAuthMessage(data);
    } catch (e) {
      if (!(e instanceof DhchapError)) throw e;
      return this.refuse(e.explanation);
    }
    if (m.kind === 'negotiate') return this.onNegotiate(m);
    if (m.kind === 'failure2') {
      this.failure = m.explanation;
      this.step = 'failed';
      this.authenticated = false;
      this.wipe();
      return false;
    }
    const expected = this.step === 'reply' ? 'reply' : this.step === 'success2' ? 'success2' : undefined;
    if (m.kind !== expected) {
      this.failure = FailureExplanation.IncorrectMessage;
      this.step = 'failed';
      this.authenticated = false;
      this.wipe();
      return false;
    }
    if (m.tid !== this.tid) return this.refuse(FailureExplanation.IncorrectPayload);
    if (m.kind === 'reply') return this.onReply(m);
    this.authenticated = true;
    this.step = 'done';
    this.wipe();
    return true;
  }

  private onNegotiate(m: Extract<AuthMessage, { kind: 'negotiate' }>): boolean {
    this.wipe();
    this.authenticated = false;
    this.tid = m.tid;
    if (m.scC !== 0) return this.refuse(FailureExplanation.ConcatMismatch);
    const p = m.protocols[0]!;
    if (m.protocols.length !== 1) return this.refuse(FailureExplanation.HashUnusable);
    if (p.authId !== DHCHAP_AUTH_ID) return this.refuse(FailureExplanation.IncorrectPayload);
    if (!p.hashes.includes(this.o.hashId)) return this.refuse(FailureExplanation.HashUnusable);
    if (!p.dhGroups.includes(this.o.dhGroupId)) return this.refuse(FailureExplanation.DhGroupUnusable);
    this.step = 'challenge';
    return true;
  }

  private onReply(m: Extract<AuthMessage, { kind: 'reply' }>): boolean {
    const hl = hashLength(this.o.hashId);
    if (m.response.length !== hl) return this.refuse(FailureExplanation.IncorrectPayload);
    if (this.o.dhGroupId !== DhGroupId.NULL) {
      try {
        checkDhValue(this.o.dhGroupId, m.dhValue);
      } catch {
        return this.refuse(FailureExplanation.DhGroupUnusable);
      }
      this.sessionKey = dhSharedSecret(this.o.dhGroupId, this.privateKey!, m.dhValue);
    } else if (m.dhValue.length !== 0) return this.refuse(FailureExplanation.IncorrectPayload);
    const common = {
      hashId: this.o.hashId,
      tid: this.tid,
      hostNqn: this.o.hostNqn,
      subsysNqn: this.o.subsysNqn,
    };
    const kh = transformKey(this.o.hostKey, this.o.hostNqn);
    const c1 = this.sessionKey ? augmentedChallenge(this.o.hashId, this.sessionKey, this.c1!) : this.c1!;
    const expected = hostResponse({ ...common, key: kh, challenge: c1, seqnum: this.s1 });
    const ok = sameResponse(m.response, expected);
    wipe(kh, expected, c1 === this.c1 ? undefined : c1);
    if (!ok) return this.refuse(FailureExplanation.Failed);
    if (m.challenge && m.seqnum !== 0) {
      this.c2 = m.challenge;
      this.s2 = m.seqnum;
    } else this.authenticated = true;
    this.step = 'success1';
    return true;
  }

  /** What AUTH_Receive returns now. */
  receive(): Buffer {
    switch (this.step) {
      case 'challenge':
        return this.challenge();
      case 'success1':
        return this.success1();
      case 'failure1':
        break;
      default:
        this.failure = FailureExplanation.Failed;
    }
    this.step = 'failed';
    this.authenticated = false;
    this.wipe();
    return encodeAuthMessage({
      kind: 'failure1',
      tid: this.tid,
      reason: FailureReason.Failed,
      explanation: this.failure ?? FailureExplanation.Failed,
    });
  }

  private challenge(): Buffer {
    const hl = hashLength(this.o.hashId);
    this.c1 = Buffer.from(this.o.random(hl));
    this.s1 = this.o.seqnum?.() ?? (Buffer.from(this.o.random(4)).readUInt32LE(0) || 1);
    let dhValue: Buffer = Buffer.alloc(0);
    if (this.o.dhGroupId !== DhGroupId.NULL) {
      this.privateKey = Buffer.from(this.o.random(DH_PRIVATE_KEY_LENGTH));
      dhValue = dhPublicValue(this.o.dhGroupId, this.privateKey);
    }
    this.step = 'reply';
    return encodeAuthMessage({
      kind: 'challenge',
      tid: this.tid,
      hashId: this.o.hashId,
      dhGroupId: this.o.dhGroupId,
      seqnum: this.s1,
      challenge: this.c1,
      dhValue,
    });
  }

  private success1(): Buffer {
    const hl = hashLength(this.o.hashId);
    let response: Buffer | undefined;
    if (this.c2) {
      if (!this.o.ctrlKey) {
        this.refuse(FailureExplanation.Failed);
        return this.receive();
      }
      const kc = transformKey(this.o.ctrlKey, this.o.subsysNqn);
      const c2 = this.sessionKey ? augmentedChallenge(this.o.hashId, this.sessionKey, this.c2) : this.c2;
      response = controllerResponse({
        hashId: this.o.hashId,
        key: kc,
        challenge: c2,
        seqnum: this.s2,
        tid: this.tid,
        hostNqn: this.o.hostNqn,
        subsysNqn: this.o.subsysNqn,
      });
      wipe(kc, c2 === this.c2 ? undefined : c2);
    }
    this.step = this.c2 ? 'success2' : 'done';
    this.wipe();
    return encodeAuthMessage({ kind: 'success1', tid: this.tid, hashLength: hl, response });
  }

  private wipe(): void {
    wipe(this.c1, this.c2, this.privateKey, this.sessionKey);
    this.c1 = this.c2 = this.privateKey = this.sessionKey = undefined;
  }
}
