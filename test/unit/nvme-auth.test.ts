import assert from 'node:assert/strict';
import { checkPrimeSync, createHash } from 'node:crypto';
import { test } from 'node:test';
import { AuthController, type AuthControllerOptions } from '../../src/core/nvme/auth-controller.js';
import {
  augmentedChallenge,
  controllerResponse,
  type DhchapKey,
  DhchapSecretError,
  formatDhchapSecret,
  hostResponse,
  parseDhchapSecret,
  transformKey,
} from '../../src/core/nvme/auth-crypto.js';
import {
  checkDhValue,
  dhPrime,
  dhPublicValue,
  dhSharedSecret,
  dhValueLength,
} from '../../src/core/nvme/auth-ffdhe.js';
import {
  AuthHost,
  type AuthHostOptions,
  type AuthHostStep,
  authenticateHost,
  SeqnumHistory,
} from '../../src/core/nvme/auth-host.js';
import {
  type AuthMessage,
  DhchapError,
  DhGroupId,
  type DhGroupIdCode,
  decodeAuthMessage,
  encodeAuthMessage,
  FailureExplanation,
  HashId,
  type HashIdCode,
} from '../../src/core/nvme/auth-messages.js';
import {
  AUTH_RECEIVE_LENGTH,
  authReceiveCommand,
  authSendCommand,
  connectAuthRequest,
  parseSqe,
} from '../../src/core/nvme/commands.js';

/*
 * Known answers below were computed once, independently of this code, with Python's hashlib/hmac/zlib and pow()
 * from the kernel's definitions (drivers/nvme/common/auth.c, host/auth.c, target/auth.c).
 */
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const SUBSYS = 'nqn.2014-08.org.nvmexpress.discovery';
const key = (n: number, m: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * m + 3) & 0xff));
const K32 = key(32, 7);
const K48 = key(48, 11);
const K64 = key(64, 13);
const bytes = (n: number, from: number, step = 1) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (from + step * i) & 0xff));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SEQ = 0x01020304;
const TID = 0x0a0b;
/** ffdhe2048 private keys of the known answers. */
const X_HOST = bytes(64, 0x11);
const X_CTRL = bytes(64, 0x77, 3);

const SECRETS = {
  k32h1: 'DHHC-1:01:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dyVhg6h:',
  k48h2: 'DHHC-1:02:Aw4ZJC86RVBbZnF8h5KdqLO+ydTf6vUACxYhLDdCTVhjbnmEj5qlsLvG0dzn8v0I2Am4Nw==:',
  k64h3:
    'DHHC-1:03:AxAdKjdEUV5reIWSn6y5xtPg7foHFCEuO0hVYm98iZajsL3K1+Tx/gsYJTI/TFlmc4CNmqe0wc7b6PUCDxwpNhwBLb0=:',
  k32h0: 'DHHC-1:00:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dyVhg6h:',
};

/** A deterministic stand-in for crypto.randomBytes. */
function drbg(seed: string): (n: number) => Buffer {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; o += 32) {
      createHash('sha256').update(`${seed}/${counter++}`).digest().copy(out, o);
    }
    return out;
  };
}

test('secrets: DHHC-1 text is base64 of key || CRC-32 (LE), as nvme gen-dhchap-key prints it', () => {
  assert.equal(formatDhchapSecret(K32, 1), SECRETS.k32h1);
  assert.equal(formatDhchapSecret(K48, 2), SECRETS.k48h2);
  assert.equal(formatDhchapSecret(K64, 3), SECRETS.k64h3);
  assert.equal(formatDhchapSecret(K32, 0), SECRETS.k32h0);
  for (const [text, k, t] of [
    [SECRETS.k32h1, K32, 1],
    [SECRETS.k48h2, K48, 2],
    [SECRETS.k64h3, K64, 3],
    [SECRETS.k32h0, K32, 0],
  ] as const) {
    const parsed = parseDhchapSecret(text);
    assert.equal(parsed.transform, t);
    assert.deepEqual(parsed.key, k);
  }
  // The kernel takes the secret without its final ':' too.
  assert.deepEqual(parseDhchapSecret(SECRETS.k32h1.slice(0, -1)).key, K32);
});

test('secrets: a bad CRC, length, transformation or base64 is refused, and no message shows the secret', () => {
  const b64 = SECRETS.k32h1.split(':')[2]!;
  const flipped = `DHHC-1:01:${b64[0] === 'A' ? 'B' : 'A'}${b64.slice(1)}:`;
  const raw31 = Buffer.concat([K32.subarray(0, 31), Buffer.alloc(4)]);
  const cases: [string, RegExp][] = [
    [flipped, /CRC-32/],
    [`DHHC-1:01:${raw31.toString('base64')}:`, /31 bytes long/],
    [`DHHC-1:04:${b64}:`, /unknown key transformation 04/],
    [`DHHC-1:01:${b64.slice(0, -4)}AA=A:`, /not a DH-HMAC-CHAP secret|not valid base64/],
    [`DHHC-1:01:${b64}=:`, /not valid base64/],
    [`DHHC-2:01:${b64}:`, /not a DH-HMAC-CHAP secret/],
    ['', /not a DH-HMAC-CHAP secret/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseDhchapSecret(text),
      (e: unknown) => {
        assert.ok(e instanceof DhchapSecretError, text);
        assert.match(e.message, re, text);
        assert.ok(!e.message.includes(b64.slice(0, 8)), `message shows the secret: ${e.message}`);
        return true;
      },
    );
  }
});

test('key transformation: 00 as is, 01/02/03 HMAC-SHA-256/384/512(key, NQN || "NVMe-over-Fabrics")', () => {
  const k = (text: string) => parseDhchapSecret(text);
  assert.equal(hex(transformKey(k(SECRETS.k32h0), HOST)), hex(K32));
  assert.equal(
    hex(transformKey(k(SECRETS.k32h1), HOST)),
    '65c2d54f9364daaebafb45552db2ac5de6fbb13466b8458afaa19fe5407a6794',
  );
  assert.equal(
    hex(transformKey(k(SECRETS.k48h2), HOST)),
    '66b09b4551ba3b7d6a03ea0fb9f8f31d21443b5bd6bcbef8074e1145fd135c10047431c7a1417659db68edd770e25471',
  );
  assert.equal(
    hex(transformKey(k(SECRETS.k64h3), HOST)),
    'de908ae24da2b3e126a5f1da1371b72c82d61a8e079f30cb081a5319e9de15ffbf1e1b157e6d51cf23ec01280da064da85de6073c5b961b976676ffb165276e3',
  );
  // The controller key is transformed with the subsystem NQN.
  assert.equal(
    hex(transformKey(k(SECRETS.k48h2), SUBSYS)),
    '4d62f6ea25e4113a389002ff5edd593fb934eb9a1bf9e05c68ae2663b0cb31ee69e2bd8f09ded69efca7d80c2a13ba7c',
  );
  // hh 00 returns a copy: wiping it leaves the key intact.
  const parsed = k(SECRETS.k32h0);
  transformKey(parsed, HOST).fill(0);
  assert.deepEqual(parsed.key, K32);
});

test('responses with the NULL DH group, each hash: R1 ("HostHost", host then subsystem NQN), R2 ("Controller")', () => {
  const known: Record<number, [DhchapKey, string, string]> = {
    [HashId.SHA256]: [
      parseDhchapSecret(SECRETS.k32h1),
      '26f570e80282f6cad9ba32c717135f7d1b2f22ec08b9d3a0501e1dec3f7f85a2',
      '20a4cfabe97a5c7ab8eb694c38ebeb729606f8d5ab96924dce8d2cce108f0b6b',
    ],
    [HashId.SHA384]: [
      parseDhchapSecret(SECRETS.k48h2),
      'd6669c0177a375aa7c8eabb9befca880abe6e4573284c3e59bf39dcbf64c759c7dc141342391876113526aa1a5f259b6',
      '2a39e7673b77136fd38519129cc97380ce7c5de19c7b2c9ea37247edbba987153eb4c7110d65f5e9eff35b2ebdef0a2a',
    ],
    [HashId.SHA512]: [
      parseDhchapSecret(SECRETS.k64h3),
      'e4af5c2aa397fa7293748f2acd79ed2f42115de52ca7a08b5a3aad1b3859a02032ae7c27e7f52033758727df409e6a9c150804f3b6a2576d46d7ab9d2004c3da',
      '5a6910044958ac21c8ea150a85f109b9c27e1b7685b6537152bc043be80fced6eee2fe11f0de504beced57d5379b07265f4b7ae6f556cfe1902df681fba9b117',
    ],
  };
  for (const [id, [k, r1, r2]] of Object.entries(known)) {
    const hashId = Number(id);
    const challenge = bytes(r1.length / 2, 0xa0);
    const common = { hashId, challenge, seqnum: SEQ, tid: TID, hostNqn: HOST, subsysNqn: SUBSYS };
    assert.equal(hex(hostResponse({ ...common, key: transformKey(k, HOST) })), r1);
    assert.equal(hex(controllerResponse({ ...common, key: transformKey(k, SUBSYS) })), r2);
  }
});

test('ffdhe2048 with fixed private keys: public values, shared secret, augmented challenge, R1 and R2', () => {
  const g = DhGroupId.FFDHE2048;
  const hostPub = dhPublicValue(g, X_HOST);
  const ctrlPub = dhPublicValue(g, X_CTRL);
  assert.equal(hostPub.length, 256);
  assert.equal(sha256(hostPub), '574dfe708671f34182e6e0a211ca1de79ca65c117611d3bfeb07340c16aafd45');
  assert.equal(sha256(ctrlPub), 'c8072375b1c355fc932de51869b23fc34134f25d2fc9f318a51b4156d297fd39');
  const shared = dhSharedSecret(g, X_HOST, ctrlPub);
  assert.deepEqual(shared, dhSharedSecret(g, X_CTRL, hostPub));
  assert.equal(sha256(shared), '370c2a8905b3f0a983e6bab1dc729b4b5054d94492fb9863ee82b11fa067ad08');
  const c1 = bytes(32, 0xa0);
  const aug = augmentedChallenge(HashId.SHA256, shared, c1);
  assert.equal(hex(aug), '480c9299ed54b36d0453769a751e75475ab840e02a29347e80f1e7d28e79ea51');
  const k = parseDhchapSecret(SECRETS.k32h1);
  const common = { hashId: HashId.SHA256, tid: TID, hostNqn: HOST, subsysNqn: SUBSYS };
  assert.equal(
    hex(hostResponse({ ...common, key: transformKey(k, HOST), challenge: aug, seqnum: SEQ })),
    'c60c934ba7d33123a94c1f2fc39ea19171c66693e5b4f74336c2679c59472c3a',
  );
  const aug2 = augmentedChallenge(HashId.SHA256, shared, bytes(32, 0x50));
  assert.equal(
    hex(controllerResponse({ ...common, key: transformKey(k, SUBSYS), challenge: aug2, seqnum: 0x0badcafe })),
    '2dc22eb3c69e6f87041168b3441f7c328ecf048c7b8bbdbfbdbab2d29b949f12',
  );
});

test('ffdhe2048: values and secrets keep their leading zero bytes (as long as the prime)', () => {
  const g = DhGroupId.FFDHE2048;
  const small = Buffer.from('870104be', 'hex');
  const shared = dhSharedSecret(g, X_HOST, dhPublicValue(g, small));
  assert.equal(shared.length, 256);
  assert.equal(shared.subarray(0, 4).toString('hex'), '00d3210d');
  assert.equal(sha256(shared), '2d56d04a823857e8aed7d590b10e2f7187117df8ed003ae9ad9852ad3ab7235e');
  // 2^7 = 0x80: a one-byte number, sent as 256 bytes.
  const tiny = dhPublicValue(g, Buffer.from([7]));
  assert.equal(tiny.length, 256);
  assert.equal(tiny[255], 0x80);
  assert.equal(
    tiny.subarray(0, 255).every((b) => b === 0),
    true,
  );
});

test('RFC 7919 groups: sizes, the fixed top and bottom 64 bits, ffdhe2048 a safe prime', () => {
  const bits = { 1: 2048, 2: 3072, 3: 4096, 4: 6144, 5: 8192 } as const;
  for (const [id, n] of Object.entries(bits)) {
    const p = dhPrime(Number(id));
    assert.equal(p.length * 8, n);
    assert.equal(dhValueLength(Number(id)), n / 8);
    assert.equal(p.subarray(0, 8).toString('hex'), 'ffffffffffffffff');
    assert.equal(p.subarray(-8).toString('hex'), 'ffffffffffffffff');
    assert.equal(p.subarray(8, 16).toString('hex'), 'adf85458a2bb4a9a'); // e's binary expansion
  }
  assert.equal(dhValueLength(DhGroupId.NULL), 0);
  const p = BigInt(`0x${dhPrime(DhGroupId.FFDHE2048).toString('hex')}`);
  assert.ok(checkPrimeSync(p, { checks: 2 }));
  assert.ok(checkPrimeSync((p - 1n) / 2n, { checks: 2 }));
});

test('a peer DH value must be as long as the prime and within 1 < y < p - 1', () => {
  const g = DhGroupId.FFDHE2048;
  const p = dhPrime(g);
  const pMinus1 = Buffer.from(p);
  pMinus1[255] = pMinus1[255]! - 1;
  const one = Buffer.alloc(256);
  one[255] = 1;
  const two = Buffer.alloc(256);
  two[255] = 2;
  for (const bad of [Buffer.alloc(255, 1), Buffer.alloc(257, 1), Buffer.alloc(256), one, pMinus1, p]) {
    assert.throws(
      () => checkDhValue(g, bad),
      (e: unknown) => e instanceof DhchapError && e.explanation === FailureExplanation.IncorrectPayload,
    );
  }
  checkDhValue(g, two);
  assert.throws(() => dhPublicValue(g, Buffer.from([1])), /out of range/);
});

test('messages: AUTH_Negotiate as the kernel host lays it out (hashes from ID 0, DH groups from ID 30)', () => {
  const b = encodeAuthMessage({
    kind: 'negotiate',
    tid: 0x1234,
    scC: 0,
    protocols: [{ authId: 1, hashes: [1, 2, 3], dhGroups: [0, 1, 2, 3, 4, 5] }],
  });
  assert.equal(b.length, 72);
  assert.equal(b.subarray(0, 8).toString('hex'), '0000000034120001');
  assert.equal(b.subarray(8, 12).toString('hex'), '01000306');
  assert.equal(b.subarray(12, 15).toString('hex'), '010203');
  assert.equal(
    b.subarray(15, 42).every((x) => x === 0),
    true,
  );
  assert.equal(b.subarray(42, 48).toString('hex'), '000102030405');
  assert.deepEqual(decodeAuthMessage(b), {
    kind: 'negotiate',
    tid: 0x1234,
    scC: 0,
    protocols: [{ authId: 1, hashes: [1, 2, 3], dhGroups: [0, 1, 2, 3, 4, 5] }],
  });
});

test('messages: every message round-trips; a controller message padded to the AUTH_Receive length decodes', () => {
  const msgs: AuthMessage[] = [
    {
      kind: 'challenge',
      tid: 7,
      hashId: 2,
      dhGroupId: 1,
      seqnum: 0xdeadbeef,
      challenge: bytes(48, 1),
      dhValue: bytes(256, 9),
    },
    {
      kind: 'reply',
      tid: 7,
      response: bytes(32, 3),
      challenge: bytes(32, 4),
      seqnum: 99,
      dhValue: bytes(256, 5),
    },
    {
      kind: 'reply',
      tid: 7,
      response: bytes(32, 3),
      challenge: undefined,
      seqnum: 0,
      dhValue: Buffer.alloc(0),
    },
    { kind: 'success1', tid: 7, hashLength: 64, response: bytes(64, 6) },
    { kind: 'success1', tid: 7, hashLength: 32, response: undefined },
    { kind: 'success2', tid: 7 },
    { kind: 'failure1', tid: 7, reason: 1, explanation: 4 },
    { kind: 'failure2', tid: 7, reason: 1, explanation: 7 },
  ];
  for (const m of msgs) {
    const b = encodeAuthMessage(m);
    assert.deepEqual(decodeAuthMessage(b), m);
    const padded = Buffer.alloc(AUTH_RECEIVE_LENGTH);
    b.copy(padded);
    assert.deepEqual(decodeAuthMessage(padded), m);
  }
  const c = encodeAuthMessage(msgs[0]!);
  assert.equal(c.subarray(0, 16).toString('hex'), '010100000700300002010001efbeadde');
  // A reply without C2 still carries the (zero) C2 field, as the kernel sends it.
  assert.equal(encodeAuthMessage(msgs[2]!).length, 16 + 64);
  assert.equal(encodeAuthMessage(msgs[6]!).toString('hex'), '00f1000007000104');
});

test('messages: a malformed or unknown controller message is a protocol error with a clear message', () => {
  const challenge = encodeAuthMessage({
    kind: 'challenge',
    tid: 1,
    hashId: 1,
    dhGroupId: 1,
    seqnum: 1,
    challenge: bytes(32, 0),
    dhValue: bytes(256, 0),
  });
  const cases: [Buffer, RegExp, number][] = [
    [challenge.subarray(0, 200), /Challenge: HL 32 and DHVLEN 256 run past its 200 bytes/, 6],
    [challenge.subarray(0, 12), /Challenge of 12 bytes/, 6],
    [Buffer.from('0101000001000000', 'hex'), /Challenge of 8 bytes/, 6],
    [Buffer.from('01010000010000000100000000000000', 'hex'), /HL is 0/, 6],
    [
      Buffer.from('0109000001000000000000000000000000', 'hex'),
      /unknown authentication message AUTH-Type 0x01 \/ AUTH-ID 0x09/,
      7,
    ],
    [Buffer.from('0701000001000000000000000000000000', 'hex'), /AUTH-Type 0x07/, 7],
    [Buffer.from('01030000010020000200000000000000', 'hex'), /Success1: RVALID 2/, 6],
    [Buffer.from('01030000010020000100000000000000', 'hex'), /R2 runs past/, 6],
    [Buffer.from('0000', 'hex'), /2 bytes is too short/, 6],
  ];
  for (const [b, re, explanation] of cases) {
    assert.throws(
      () => decodeAuthMessage(b),
      (e: unknown) => e instanceof DhchapError && re.test(e.message) && e.explanation === explanation,
      re.source,
    );
  }
});

test('AUTH_Send / AUTH_Receive SQEs: Fabrics 0x7f, FCTYPE 05h/06h, SPSP0/1 01h, SECP E9h, TL/AL', () => {
  const send = authSendCommand(0x42, 72);
  const s = parseSqe(send);
  assert.equal(s.opcode, 0x7f);
  assert.equal(s.cid, 0x42);
  assert.equal(s.fctype, 0x05);
  assert.equal(send.subarray(40, 48).toString('hex'), '000101e948000000');
  assert.equal(s.sglLength, 72);
  assert.equal(s.sglType, 0x01); // in-capsule data
  const recv = authReceiveCommand(0x43);
  const r = parseSqe(recv);
  assert.equal(r.fctype, 0x06);
  assert.equal(recv.subarray(40, 48).toString('hex'), '000101e900100000');
  assert.equal(r.sglLength, 4096);
  assert.equal(r.sglType, 0x5a); // transport data block: C2H data
  assert.throws(() => authSendCommand(1, 0), RangeError);
});

test('Connect response AUTHREQ: ATR is DW0 bit 17, ASCR bit 18 (CNTLID in bits 15:0)', () => {
  assert.deepEqual(connectAuthRequest(0x0001), { atr: false, ascr: false });
  assert.deepEqual(connectAuthRequest(0x20001), { atr: true, ascr: false });
  assert.deepEqual(connectAuthRequest(0x40005), { atr: false, ascr: true });
  assert.deepEqual(connectAuthRequest(0x10000), { atr: false, ascr: false }); // bit 16 is reserved
});

interface Pair {
  host: AuthHost;
  ctrl: AuthController;
}

function pair(
  h: Partial<AuthHostOptions> & { secret?: string; ctrlSecret?: string },
  c: Partial<AuthControllerOptions> & { secret?: string; ctrlSecret?: string } = {},
): Pair {
  const hostSecret = h.secret ?? SECRETS.k32h1;
  const host = new AuthHost({
    hostNqn: HOST,
    subsysNqn: SUBSYS,
    hostKey: parseDhchapSecret(hostSecret),
    ctrlKey: h.ctrlSecret ? parseDhchapSecret(h.ctrlSecret) : undefined,
    random: drbg('host'),
    ...h,
  });
  const ctrlSecret = c.ctrlSecret ?? h.ctrlSecret;
  const ctrl = new AuthController({
    subsysNqn: SUBSYS,
    hostNqn: HOST,
    hostKey: parseDhchapSecret(c.secret ?? hostSecret),
    ctrlKey: ctrlSecret ? parseDhchapSecret(ctrlSecret) : undefined,
    hashId: HashId.SHA256,
    dhGroupId: DhGroupId.NULL,
    random: drbg('ctrl'),
    ...c,
  });
  return { host, ctrl };
}

/** Runs host and controller against each other; `tamper` may change a controller message on its way. */
function run(
  p: Pair,
  tamper: (m: Buffer, n: number) => Buffer = (m) => m,
): { last: AuthHostStep; sent: Buffer[] } {
  const sent: Buffer[] = [];
  let step = p.host.start();
  for (let n = 0; ; n++) {
    if (step.kind === 'failed') {
      if (step.failure2) p.ctrl.send(step.failure2);
      return { last: step, sent };
    }
    if (step.kind === 'done') return { last: step, sent };
    sent.push(step.message);
    p.ctrl.send(step.message);
    if (step.next === 'done') return { last: step, sent };
    step = p.host.receive(tamper(p.ctrl.receive(), n));
  }
}

function failedWith(
  last: AuthHostStep,
  explanation: number,
  re: RegExp,
  byController = false,
): Buffer | undefined {
  assert.equal(last.kind, 'failed');
  if (last.kind !== 'failed') return undefined;
  assert.match(last.error.message, re);
  assert.equal(last.error.explanation, explanation);
  assert.equal(last.error.byController, byController);
  return last.failure2;
}

test('AuthHost against AuthController: every hash, NULL and ffdhe groups, with and without controller proof', () => {
  const hashes: [HashIdCode, string][] = [
    [HashId.SHA256, SECRETS.k32h1],
    [HashId.SHA384, SECRETS.k48h2],
    [HashId.SHA512, SECRETS.k64h3],
  ];
  const groups: DhGroupIdCode[] = [DhGroupId.NULL, DhGroupId.FFDHE2048, DhGroupId.FFDHE8192];
  for (const [hashId, secret] of hashes) {
    for (const dhGroupId of groups) {
      for (const ctrlSecret of [undefined, SECRETS.k32h0]) {
        const p = pair({ secret, ctrlSecret }, { hashId, dhGroupId });
        const { last, sent } = run(p);
        const what = `hash ${hashId} group ${dhGroupId} bidirectional ${!!ctrlSecret}`;
        const outcome =
          last.kind === 'done' || (last.kind === 'send' && last.next === 'done') ? last.outcome : undefined;
        assert.deepEqual(outcome, { hashId, dhGroupId, bidirectional: !!ctrlSecret }, what);
        assert.equal(p.ctrl.authenticated, true, what);
        assert.deepEqual(
          sent.map((m) => decodeAuthMessage(m).kind),
          ctrlSecret ? ['negotiate', 'reply', 'success2'] : ['negotiate', 'reply'],
          what,
        );
      }
    }
  }
  for (const dhGroupId of [DhGroupId.FFDHE3072, DhGroupId.FFDHE4096, DhGroupId.FFDHE6144] as const) {
    const p = pair({}, { dhGroupId });
    assert.equal(run(p).last.kind, 'done');
    assert.equal(p.ctrl.authenticated, true);
  }
});

test('AuthHost Reply with fixed randomness carries the known-answer R1 and DH value (ffdhe2048, SHA-256)', () => {
  const host = new AuthHost({
    hostNqn: HOST,
    subsysNqn: SUBSYS,
    hostKey: parseDhchapSecret(SECRETS.k32h1),
    random: (n) => {
      assert.equal(n, 64);
      return X_HOST;
    },
    tid: TID,
  });
  host.start();
  const step = host.receive(
    encodeAuthMessage({
      kind: 'challenge',
      tid: TID,
      hashId: HashId.SHA256,
      dhGroupId: DhGroupId.FFDHE2048,
      seqnum: SEQ,
      challenge: bytes(32, 0xa0),
      dhValue: dhPublicValue(DhGroupId.FFDHE2048, X_CTRL),
    }),
  );
  assert.equal(step.kind, 'send');
  const reply = decodeAuthMessage((step as { message: Buffer }).message);
  assert.equal(reply.kind, 'reply');
  if (reply.kind !== 'reply') return;
  assert.equal(hex(reply.response), 'c60c934ba7d33123a94c1f2fc39ea19171c66693e5b4f74336c2679c59472c3a');
  assert.equal(sha256(reply.dhValue), '574dfe708671f34182e6e0a211ca1de79ca65c117611d3bfeb07340c16aafd45');
  assert.equal(reply.challenge, undefined);
  assert.equal(reply.seqnum, 0);
  assert.equal(reply.tid, TID);
});

test('AuthHost refuses: the controller rejects a wrong host response with Failure1 (its reason is reported)', () => {
  const p = pair({ secret: SECRETS.k32h1 }, { secret: SECRETS.k32h0 });
  const { last } = run(p);
  const f2 = failedWith(
    last,
    FailureExplanation.Failed,
    /controller refused authentication: authentication failed \(0x01\)/,
    true,
  );
  assert.equal(f2, undefined); // no Failure2 after a Failure1
  assert.equal(p.ctrl.authenticated, false);
  assert.equal(p.ctrl.fatal, true);
  // A Failure1 with another reason names it.
  const q = pair({ hashes: [HashId.SHA256] }, { hashId: HashId.SHA512 });
  failedWith(run(q).last, FailureExplanation.HashUnusable, /hash function not usable \(0x04\)/, true);
});

test('AuthHost refuses a controller that fails to prove itself (wrong R2, or no R2) and says so in Failure2', () => {
  const wrong = pair(
    { ctrlSecret: SECRETS.k32h0 },
    { ctrlSecret: formatDhchapSecret(K64.subarray(0, 32), 0) },
  );
  const r = run(wrong);
  const f2 = failedWith(r.last, FailureExplanation.Failed, /controller failed to prove its identity/);
  assert.deepEqual(decodeAuthMessage(f2!), {
    kind: 'failure2',
    tid: wrong.host.tid,
    reason: 1,
    explanation: 1,
  });
  assert.equal(wrong.ctrl.authenticated, false);
  assert.equal(wrong.ctrl.fatal, true);

  const silent = pair({ ctrlSecret: SECRETS.k32h0 });
  const noR2 = (m: Buffer, n: number) => {
    const d = decodeAuthMessage(m);
    return n === 1 && d.kind === 'success1' ? encodeAuthMessage({ ...d, response: undefined }) : m;
  };
  failedWith(run(silent, noR2).last, FailureExplanation.Failed, /controller did not prove its identity/);
});

test('AuthHost refuses unexpected messages, a T_ID mismatch and malformed challenges (with Failure2)', () => {
  const cases: [string, (m: Buffer, n: number) => Buffer, number, RegExp][] = [
    [
      'success1 instead of challenge',
      (m, n) =>
        n === 0
          ? encodeAuthMessage({
              kind: 'success1',
              tid: decodeAuthMessage(m).tid,
              hashLength: 32,
              response: undefined,
            })
          : m,
      FailureExplanation.IncorrectMessage,
      /expected DH-HMAC-CHAP_Challenge, the controller sent DH-HMAC-CHAP_Success1/,
    ],
    [
      'challenge again instead of success1',
      (m, n) =>
        n === 1
          ? encodeAuthMessage({
              kind: 'challenge',
              tid: decodeAuthMessage(m).tid,
              hashId: 1,
              dhGroupId: 0,
              seqnum: 9,
              challenge: bytes(32, 0),
              dhValue: Buffer.alloc(0),
            })
          : m,
      FailureExplanation.IncorrectMessage,
      /expected DH-HMAC-CHAP_Success1, the controller sent DH-HMAC-CHAP_Challenge/,
    ],
    [
      'T_ID mismatch',
      (m, n) => {
        if (n !== 0) return m;
        const b = Buffer.from(m);
        b.writeUInt16LE((b.readUInt16LE(4) + 1) & 0xffff, 4);
        return b;
      },
      FailureExplanation.IncorrectMessage,
      /carries T_ID \d+, the transaction is \d+/,
    ],
    [
      'truncated challenge',
      (m, n) => (n === 0 ? m.subarray(0, 30) : m),
      FailureExplanation.IncorrectPayload,
      /malformed DH-HMAC-CHAP_Challenge: HL 32 and DHVLEN 0 run past its 30 bytes/,
    ],
  ];
  for (const [what, tamper, explanation, re] of cases) {
    const p = pair({});
    const f2 = failedWith(run(p, tamper).last, explanation, re);
    assert.ok(f2, what);
    assert.deepEqual(
      decodeAuthMessage(f2!),
      { kind: 'failure2', tid: p.host.tid, reason: 1, explanation },
      what,
    );
    assert.equal(p.ctrl.authenticated, false, what);
  }
});

function challengeFor(host: AuthHost, over: Partial<Extract<AuthMessage, { kind: 'challenge' }>>): Buffer {
  return encodeAuthMessage({
    kind: 'challenge',
    tid: host.tid,
    hashId: HashId.SHA256,
    dhGroupId: DhGroupId.NULL,
    seqnum: 5,
    challenge: bytes(32, 0),
    dhValue: Buffer.alloc(0),
    ...over,
  });
}

test('AuthHost refuses a hash or DH group it did not offer, and DH values that do not fit the group', () => {
  const mk = (o: Partial<AuthHostOptions> = {}) => {
    const h = new AuthHost({
      hostNqn: HOST,
      subsysNqn: SUBSYS,
      hostKey: parseDhchapSecret(SECRETS.k32h1),
      random: drbg('x'),
      ...o,
    });
    h.start();
    return h;
  };
  let h = mk({ hashes: [HashId.SHA256] });
  failedWith(
    h.receive(challengeFor(h, { hashId: HashId.SHA384, challenge: bytes(48, 0) })),
    FailureExplanation.HashUnusable,
    /chose hash 0x02, which the host did not offer \(sha256\)/,
  );
  h = mk();
  failedWith(h.receive(challengeFor(h, { hashId: 9 })), FailureExplanation.HashUnusable, /hash 0x09/);
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { challenge: bytes(48, 0) })),
    FailureExplanation.HashUnusable,
    /challenge of 48 bytes for sha256/,
  );
  h = mk({ dhGroups: [DhGroupId.FFDHE2048] });
  failedWith(
    h.receive(challengeFor(h, {})),
    FailureExplanation.DhGroupUnusable,
    /chose null, which the host did not offer \(ffdhe2048\)/,
  );
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { dhGroupId: 6 })),
    FailureExplanation.DhGroupUnusable,
    /DH group 0x06/,
  );
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { dhValue: bytes(8, 1) })),
    FailureExplanation.IncorrectPayload,
    /DH value with the NULL DH group/,
  );
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { dhGroupId: 1 })),
    FailureExplanation.DhGroupUnusable,
    /no DH value for ffdhe2048/,
  );
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { dhGroupId: 1, dhValue: bytes(128, 1) })),
    FailureExplanation.IncorrectPayload,
    /DH value of 128 bytes \(ffdhe2048 needs 256\)/,
  );
  h = mk();
  failedWith(
    h.receive(challengeFor(h, { dhGroupId: 1, dhValue: Buffer.from(dhPrime(1)) })),
    FailureExplanation.IncorrectPayload,
    /out of range/,
  );
});

test('AuthHost refuses a replayed sequence number (SeqnumHistory kept across exchanges with one controller)', () => {
  const seqnums = new SeqnumHistory();
  const first = pair({ seqnums }, { seqnum: () => 0x5eed });
  assert.equal(run(first).last.kind, 'done');
  const again = pair({ seqnums }, { seqnum: () => 0x5eed });
  failedWith(
    run(again).last,
    FailureExplanation.IncorrectPayload,
    /reuses sequence number 0x00005eed \(a replayed challenge\)/,
  );
  // A fresh one passes; the history is bounded.
  assert.equal(run(pair({ seqnums }, { seqnum: () => 0x5eee })).last.kind, 'done');
  const small = new SeqnumHistory(2);
  for (const s of [1, 2, 3]) small.add(s);
  assert.deepEqual([small.has(1), small.has(2), small.has(3)], [false, true, true]);
});

test('AuthHost refuses a Success1 with the wrong HL, or with a response nobody asked for', () => {
  const hl = pair({});
  const badHl = (m: Buffer, n: number) => {
    const d = decodeAuthMessage(m);
    return n === 1 && d.kind === 'success1' ? encodeAuthMessage({ ...d, hashLength: 48 }) : m;
  };
  failedWith(
    run(hl, badHl).last,
    FailureExplanation.HashUnusable,
    /Success1 HL 48 does not match sha256 \(32\)/,
  );
  const extra = pair({});
  const withR2 = (m: Buffer, n: number) => {
    const d = decodeAuthMessage(m);
    return n === 1 && d.kind === 'success1' ? encodeAuthMessage({ ...d, response: bytes(32, 1) }) : m;
  };
  failedWith(
    run(extra, withR2).last,
    FailureExplanation.IncorrectPayload,
    /a challenge the host did not send/,
  );
});

test('AuthHost is used in order: receive before start, or after the end, is a programming error', () => {
  const { host } = pair({});
  assert.throws(() => host.receive(Buffer.alloc(16)), /expects no controller message/);
  host.start();
  assert.throws(() => host.start(), /already started/);
  host.finish();
  assert.throws(() => host.receive(Buffer.alloc(16)), /expects no controller message/);
});

test('AuthController (the test double side) refuses a host it cannot authenticate, as the kernel target does', () => {
  const mkCtrl = (o: Partial<AuthControllerOptions> = {}) =>
    new AuthController({
      subsysNqn: SUBSYS,
      hostNqn: HOST,
      hostKey: parseDhchapSecret(SECRETS.k32h1),
      hashId: HashId.SHA256,
      dhGroupId: DhGroupId.FFDHE2048,
      random: drbg('c'),
      ...o,
    });
  const negotiate = (tid: number, hashes = [1, 2, 3], dhGroups = [0, 1]) =>
    encodeAuthMessage({ kind: 'negotiate', tid, scC: 0, protocols: [{ authId: 1, hashes, dhGroups }] });
  const failure1 = (c: AuthController) => decodeAuthMessage(c.receive());

  let c = mkCtrl();
  c.send(negotiate(3, [2, 3]));
  assert.deepEqual(failure1(c), {
    kind: 'failure1',
    tid: 3,
    reason: 1,
    explanation: FailureExplanation.HashUnusable,
  });
  assert.equal(c.fatal, true);
  c = mkCtrl();
  c.send(negotiate(3, [1], [0]));
  assert.equal((failure1(c) as { explanation: number }).explanation, FailureExplanation.DhGroupUnusable);
  // A Reply with another T_ID.
  c = mkCtrl({ dhGroupId: DhGroupId.NULL });
  c.send(negotiate(3));
  assert.equal(decodeAuthMessage(c.receive()).kind, 'challenge');
  c.send(
    encodeAuthMessage({
      kind: 'reply',
      tid: 4,
      response: bytes(32, 0),
      challenge: undefined,
      seqnum: 0,
      dhValue: Buffer.alloc(0),
    }),
  );
  assert.equal((failure1(c) as { explanation: number }).explanation, FailureExplanation.IncorrectPayload);
  // A message out of turn ends the association.
  c = mkCtrl();
  c.send(encodeAuthMessage({ kind: 'success2', tid: 0 }));
  assert.equal(c.fatal, true);
  assert.equal(c.authenticated, false);
  // A Reply whose DH value is not in the group.
  c = mkCtrl();
  c.send(negotiate(3));
  c.receive();
  c.send(
    encodeAuthMessage({
      kind: 'reply',
      tid: 3,
      response: bytes(32, 0),
      challenge: undefined,
      seqnum: 0,
      dhValue: Buffer.alloc(256, 0xff),
    }),
  );
  assert.equal((failure1(c) as { explanation: number }).explanation, FailureExplanation.DhGroupUnusable);
  // A host challenge without a controller secret to answer it.
  const p = pair({ ctrlSecret: SECRETS.k32h0 }, { ctrlKey: undefined });
  failedWith(run(p).last, FailureExplanation.Failed, /controller refused authentication/, true);
});

test('authenticateHost runs the exchange over AUTH_Send/AUTH_Receive and sends Failure2 on a fault', async () => {
  const ok = pair({ ctrlSecret: SECRETS.k32h0 }, { dhGroupId: DhGroupId.FFDHE2048 });
  const sends: string[] = [];
  const outcome = await authenticateHost(ok.host, {
    send: async (m) => {
      sends.push(decodeAuthMessage(m).kind);
      ok.ctrl.send(m);
    },
    receive: async () => ok.ctrl.receive(),
  });
  assert.deepEqual(outcome, { hashId: HashId.SHA256, dhGroupId: DhGroupId.FFDHE2048, bidirectional: true });
  assert.deepEqual(sends, ['negotiate', 'reply', 'success2']);

  const bad = pair({ ctrlSecret: SECRETS.k32h0 }, { ctrlSecret: SECRETS.k32h1 });
  const badSends: AuthMessage[] = [];
  await assert.rejects(
    authenticateHost(bad.host, {
      send: async (m) => {
        badSends.push(decodeAuthMessage(m));
        bad.ctrl.send(m);
      },
      receive: async () => bad.ctrl.receive(),
    }),
    (e: unknown) => e instanceof DhchapError && /failed to prove its identity/.test(e.message),
  );
  assert.equal(badSends.at(-1)?.kind, 'failure2');
  // A transport error propagates as is.
  const t = pair({});
  await assert.rejects(
    authenticateHost(t.host, {
      send: async () => {},
      receive: async () => Promise.reject(new Error('closed')),
    }),
    /closed/,
  );
});
