// Unit tests of the native addon on the host: bound TCP connects, admin passthrough errors, uevent watches.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { test } from 'node:test';
import {
  adminPassthru,
  fabricsConnect,
  MAX_ADMIN_DATA_LENGTH,
  nativeAvailable,
  nativeUnavailableReason,
  scanNvmeControllers,
  tcpConnectBound,
  ueventClose,
  ueventOpen,
  ueventRef,
  ueventUnref,
  ueventWatch,
  writeAttribute,
} from '../../src/adapters/native.js';
import { scaled } from '../support/slow.js';

const NATIVE_URL = new URL('../../src/adapters/native.js', import.meta.url).href;
const skip = nativeUnavailableReason();
const LO_UEVENT = '/sys/devices/virtual/net/lo/uevent';

/** An errno name as Node spells it. */
const ERRNO_NAME = /^E[A-Z0-9]+$/;

type Errno = NodeJS.ErrnoException & { address?: string; port?: number };

/** Asserts that the promise rejects with an errno error of `code` and returns the error. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Errno> {
  try {
    await promise;
  } catch (e) {
    const err = e as Errno;
    assert.equal(err.code, code, `${err.message}`);
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail(`resolved, expected ${code}`);
}

/** An echo server on 127.0.0.1 that prefixes what it echoes with '<'. */
async function echoServer(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    s.on('data', (d) => s.write(`<${d}`));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** Wraps a connected fd in a net.Socket, checks data both ways, closes it; returns its local address. */
async function roundTrip(fd: number, port: number): Promise<string | undefined> {
  const socket = new net.Socket({ fd, readable: true, writable: true });
  try {
    assert.equal(socket.remoteAddress, '127.0.0.1');
    assert.equal(socket.remotePort, port);
    const reply = new Promise<string>((resolve, reject) => {
      let got = '';
      socket.on('data', (d) => {
        got += d;
        if (got.length >= 6) resolve(got);
      });
      socket.once('error', reject);
    });
    socket.write('hello');
    assert.equal(await reply, '<hello');
    return socket.localAddress;
  } finally {
    socket.destroy();
  }
}

/** Runs an ES module snippet in a child node process; resolves with its exit code, stdout and stderr. */
function runNode(
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 10_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`child did not exit within ${scaled(timeoutMs)} ms (stdout ${stdout}, stderr ${stderr})`),
      );
    }, scaled(timeoutMs));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether a synthetic uevent can be triggered here (root with a writable sysfs). */
function canTriggerUevent(): boolean {
  try {
    fs.accessSync(LO_UEVENT, fs.constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/** Triggers a synthetic 'change' uevent for lo tagged with `uuid` (SYNTH_UUID=<uuid>, SYNTH_ARG_STASTEST=1). */
function triggerUevent(uuid: string): void {
  fs.writeFileSync(LO_UEVENT, `change ${uuid} STASTEST=1`);
}

test('the native addon is built (npm ci builds it)', () => {
  assert.ok(nativeAvailable(), skip);
});

test('tcpConnectBound connects to a local server; the fd works as a net.Socket', { skip }, async (t) => {
  const { server, port } = await echoServer();
  t.after(() => server.close());

  await t.test('plain', async () => {
    const fd = await tcpConnectBound({ host: '127.0.0.1', port, timeoutMs: 5000 });
    assert.ok(Number.isInteger(fd) && fd > 2);
    await roundTrip(fd, port);
  });

  await t.test('bound to localAddress 127.0.0.1', async () => {
    const fd = await tcpConnectBound({ host: '127.0.0.1', port, localAddress: '127.0.0.1', timeoutMs: 5000 });
    assert.equal(await roundTrip(fd, port), '127.0.0.1');
  });

  await t.test('bound to interface lo', async (t) => {
    let fd: number;
    try {
      fd = await tcpConnectBound({ host: '127.0.0.1', port, iface: 'lo', timeoutMs: 5000 });
    } catch (e) {
      // SO_BINDTODEVICE needs CAP_NET_RAW on kernels before 5.7
      if ((e as Errno).code === 'EPERM' && process.getuid?.() !== 0) return t.skip('EPERM: not root');
      throw e;
    }
    await roundTrip(fd, port);
  });

  await t.test('the fd is non-blocking and close-on-exec (a child process does not inherit it)', async () => {
    const fd = await tcpConnectBound({ host: '127.0.0.1', port, timeoutMs: 5000 });
    try {
      const r = await runNode(`import fs from 'node:fs'; console.log(fs.existsSync('/proc/self/fd/${fd}'));`);
      assert.equal(r.stdout.trim(), 'false');
      const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/^flags:\s+(\d+)/m)?.[1];
      assert.ok(flags !== undefined);
      assert.ok(Number.parseInt(flags, 8) & fs.constants.O_NONBLOCK, `flags ${flags}`);
    } finally {
      fs.closeSync(fd);
    }
  });
});

test('tcpConnectBound errors carry the errno name and the address', { skip }, async (t) => {
  await t.test('ECONNREFUSED on a closed port', async () => {
    const { server, port } = await echoServer();
    await new Promise((resolve) => server.close(resolve));
    const err = await rejectsWith(
      tcpConnectBound({ host: '127.0.0.1', port, timeoutMs: 5000 }),
      'ECONNREFUSED',
    );
    assert.equal(err.syscall, 'connect');
    assert.equal(err.address, '127.0.0.1');
    assert.equal(err.port, port);
    assert.match(err.message, new RegExp(`connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
  });

  await t.test('ENODEV for an unknown interface (also for a name too long for one)', async () => {
    const err = await rejectsWith(
      tcpConnectBound({ host: '127.0.0.1', port: 9, iface: 'nosuchif0', timeoutMs: 5000 }),
      'ENODEV',
    );
    assert.match(err.message, /nosuchif0/);
    await rejectsWith(
      tcpConnectBound({ host: '127.0.0.1', port: 9, iface: 'lo-but-far-too-long', timeoutMs: 5000 }),
      'ENODEV',
    );
    await rejectsWith(tcpConnectBound({ host: 'fe80::1%nosuchif0', port: 9, timeoutMs: 5000 }), 'ENODEV');
  });

  await t.test('EADDRNOTAVAIL for a local address the host does not have', async () => {
    const err = await rejectsWith(
      tcpConnectBound({ host: '127.0.0.1', port: 9, localAddress: '192.0.2.1', timeoutMs: 5000 }),
      'EADDRNOTAVAIL',
    );
    assert.equal(err.syscall, 'bind');
  });

  await t.test('ETIMEDOUT when the server does not answer the SYN', async (t) => {
    // A listener whose accept queue is full drops SYNs: a child with backlog 1 that never accepts
    // (its event loop is blocked) takes two connections; the third one cannot complete.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createServer();
         s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
           console.log(s.address().port);
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve) =>
      child.stdout.once('data', (d) => resolve(Number(`${d}`))),
    );
    const fds: number[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const start = Date.now();
        try {
          fds.push(await tcpConnectBound({ host: '127.0.0.1', port, timeoutMs: 300 }));
        } catch (e) {
          assert.equal((e as Errno).code, 'ETIMEDOUT', (e as Error).message);
          assert.equal((e as Errno).syscall, 'connect');
          assert.ok(Date.now() - start >= 250, `timed out after ${Date.now() - start} ms`);
          return;
        }
      }
      assert.fail(`${fds.length} connects completed; expected a timeout once the accept queue was full`);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  });

  await t.test('invalid options reject with TypeError / RangeError, before any I/O', async () => {
    const bad: [object, string][] = [
      [{ host: 'localhost', port: 1, timeoutMs: 1 }, 'ERR_INVALID_IP_ADDRESS'],
      [{ host: '10.0.0.1%eth0', port: 1, timeoutMs: 1 }, 'ERR_INVALID_IP_ADDRESS'],
      [{ host: '127.0.0.1', port: 1, localAddress: '::1', timeoutMs: 1 }, 'ERR_INVALID_IP_ADDRESS'],
      [{ host: '127.0.0.1', port: 0, timeoutMs: 1 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 65536, timeoutMs: 1 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 1, timeoutMs: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: '1', timeoutMs: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ host: '127.0.0.1', port: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ host: '127.0.0.1', port: 1, iface: '', timeoutMs: 1 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 1, iface: 5, timeoutMs: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ port: 1, timeoutMs: 1 }, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [opts, code] of bad)
      await rejectsWith(tcpConnectBound(opts as Parameters<typeof tcpConnectBound>[0]), code);
    await rejectsWith(
      tcpConnectBound(null as unknown as Parameters<typeof tcpConnectBound>[0]),
      'ERR_INVALID_ARG_TYPE',
    );
  });
});

test('adminPassthru reports open/ioctl failures with the errno name and the device', { skip }, async () => {
  const identify = { opcode: 0x06, cdw10: 1, dataLength: 4096, timeoutMs: 1000 };
  const missing = await rejectsWith(adminPassthru('/dev/nvme-stas-no-such-device', identify), 'ENOENT');
  assert.equal(missing.syscall, 'open');
  assert.equal(missing.path, '/dev/nvme-stas-no-such-device');
  assert.match(missing.message, /\/dev\/nvme-stas-no-such-device/);

  try {
    await adminPassthru('/dev/null', identify);
    assert.fail('ioctl on /dev/null succeeded');
  } catch (e) {
    const err = e as Errno;
    assert.match(String(err.code), ERRNO_NAME);
    assert.equal(err.code, 'ENOTTY'); // what Linux returns for an ioctl a driver does not know
    assert.equal(err.syscall, 'ioctl');
    assert.equal(err.errno, -25);
    assert.match(err.message, /\/dev\/null/);
  }
});

test('adminPassthru validates the command before any I/O', { skip }, async () => {
  const bad: [unknown, string][] = [
    [{}, 'ERR_INVALID_ARG_TYPE'], // opcode is required
    [{ opcode: 256 }, 'ERR_OUT_OF_RANGE'],
    [{ opcode: 6, cdw10: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ opcode: 6, cdw10: 2 ** 32 }, 'ERR_OUT_OF_RANGE'],
    [{ opcode: 6, nsid: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ opcode: 6, dataLength: MAX_ADMIN_DATA_LENGTH + 1 }, 'ERR_OUT_OF_RANGE'],
    [{ opcode: 0x09, dataLength: 512 }, 'ERR_OUT_OF_RANGE'], // host-to-controller opcode without cmd.data
    [{ opcode: 0x06, data: Buffer.alloc(8) }, 'ERR_OUT_OF_RANGE'], // cmd.data with a controller-to-host opcode
    [{ opcode: 0x03, data: Buffer.alloc(8) }, 'ERR_OUT_OF_RANGE'], // bidirectional opcode (bits 1:0 = 11b)
    [{ opcode: 0x21, data: Buffer.alloc(0) }, 'ERR_OUT_OF_RANGE'], // empty data
    [{ opcode: 0x21, data: Buffer.alloc(8), dataLength: 4 }, 'ERR_OUT_OF_RANGE'], // length mismatch
    [{ opcode: 0x21, data: 'abcd' }, 'ERR_INVALID_ARG_TYPE'],
    [{ opcode: 0x21, data: new ArrayBuffer(8) }, 'ERR_INVALID_ARG_TYPE'],
    [{ opcode: 6, timeoutMs: '5' }, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [cmd, code] of bad)
    await rejectsWith(adminPassthru('/dev/null', cmd as Parameters<typeof adminPassthru>[1]), code);
  await rejectsWith(adminPassthru('', { opcode: 6 }), 'ERR_OUT_OF_RANGE');
  await rejectsWith(adminPassthru('/dev/null\0x', { opcode: 6 }), 'ERR_INVALID_ARG_VALUE');
  await rejectsWith(adminPassthru(42 as unknown as string, { opcode: 6 }), 'ERR_INVALID_ARG_TYPE');
  // a data-less command with a write-direction opcode is allowed (it reaches the ioctl)
  await rejectsWith(adminPassthru('/dev/null', { opcode: 0x09, cdw10: 0x80 }), 'ENOTTY');
  // host-to-controller data (DIM, Set Features with a buffer) reaches the ioctl too, any TypedArray view
  await rejectsWith(adminPassthru('/dev/null', { opcode: 0x21, data: Buffer.alloc(1024) }), 'ENOTTY');
  await rejectsWith(
    adminPassthru('/dev/null', {
      opcode: 0x09,
      data: new Uint32Array(4) as unknown as Uint8Array,
      dataLength: 16,
    }),
    'ENOTTY',
  );
});

test('uevent socket: open, watch, ref/unref, close (idempotent), argument checks', { skip }, () => {
  const fd = ueventOpen(1 << 20);
  assert.ok(Number.isInteger(fd) && fd > 2);
  assert.ok(fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:'));
  const handle = ueventWatch(
    fd,
    () => {},
    () => {},
  );
  ueventUnref(handle);
  ueventRef(handle);
  ueventClose(handle);
  assert.equal(fs.existsSync(`/proc/self/fd/${fd}`), false, 'ueventClose closes the fd');
  ueventClose(handle);
  ueventUnref(handle); // no-ops once closed
  assert.throws(() => ueventClose({} as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => ueventOpen(-1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => ueventOpen(2 ** 31), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });

  // rcvbuf 0 keeps the default; a watch refuses anything but a uevent socket and leaves that fd alone
  const fd2 = ueventOpen(0);
  const file = fs.openSync('/dev/null', 'r');
  try {
    assert.throws(
      () =>
        ueventWatch(
          file,
          () => {},
          () => {},
        ),
      { code: 'ENOTSOCK' },
    );
    assert.throws(() => ueventWatch(fd2, 'x' as never, () => {}), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(
      () =>
        ueventWatch(
          -1,
          () => {},
          () => {},
        ),
      { code: 'ERR_OUT_OF_RANGE' },
    );
    assert.ok(fs.existsSync(`/proc/self/fd/${fd2}`));
  } finally {
    fs.closeSync(file);
    fs.closeSync(fd2);
  }
});

test('an open uevent watch keeps the process alive; a closed or unref()ed one does not', {
  skip,
}, async () => {
  const head = `import { ueventOpen, ueventWatch, ueventClose, ueventUnref } from ${JSON.stringify(NATIVE_URL)};
    const h = ueventWatch(ueventOpen(1 << 20), () => {}, (c) => console.log('error', c));`;
  const closed = await runNode(`${head} setTimeout(() => ueventClose(h), 50);`);
  assert.equal(closed.code, 0, closed.stderr);
  const unrefed = await runNode(`${head} ueventUnref(h);`);
  assert.equal(unrefed.code, 0, unrefed.stderr);
  // An open, referenced watch keeps the process alive: an unref()ed timer (which keeps nothing alive itself) fires.
  // Without the watch the event loop would be empty and the process would exit before it.
  const open = await runNode(
    `${head} setTimeout(() => { console.log('alive'); process.exit(0); }, 100).unref();`,
  );
  assert.equal(open.code, 0, open.stderr);
  assert.equal(open.stdout, 'alive\n');
  // The same timer does not fire once the watch is unref()ed: the process exits first.
  const gone = await runNode(`${head} ueventUnref(h); setTimeout(() => console.log('alive'), 100).unref();`);
  assert.equal(gone.code, 0, gone.stderr);
  assert.equal(gone.stdout, '');
});

test('a worker thread may exit or be terminated with a watch still open', { skip }, async () => {
  // the environment's teardown must wait for the uv handle to close (the library is unloaded after it)
  const worker = `
    import { parentPort } from 'node:worker_threads';
    import { ueventOpen, ueventWatch, ueventUnref } from ${JSON.stringify(NATIVE_URL)};
    const h = ueventWatch(ueventOpen(1 << 16), () => {}, () => {});
    if (process.env.UNREF) ueventUnref(h);
    parentPort.postMessage('watching');`;
  const r = await runNode(`
    import fs from 'node:fs';
    import { Worker } from 'node:worker_threads';
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    let before = 0;
    for (let i = 0; i < 7; i++) {
      const w = new Worker(${JSON.stringify(worker)}, { eval: true, env: { UNREF: i % 2 ? '1' : '' } });
      // Listened for from the start: an unref()ed worker may exit right after its message (on a busy machine,
      // before this thread has run again).
      const exited = new Promise((resolve) => w.once('exit', resolve));
      await new Promise((resolve) => w.once('message', resolve));
      if (i % 2 === 0) await w.terminate();
      else await exited;
      if (i === 0) before = fds(); // after the first worker: node opens a /dev/null once for workers
    }
    console.log(fds() - before);`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '0', 'the workers leaked fds');
});

test('STAS_NATIVE_ADDON selects the addon file; a missing addon gives a clear error', async () => {
  const r = await runNode(
    `import * as n from ${JSON.stringify(NATIVE_URL)};
     console.log(n.nativeAvailable());
     await n.adminPassthru('/dev/null', { opcode: 6 }).catch((e) => console.log(e.code, e.message));`,
    { ...process.env, STAS_NATIVE_ADDON: '/nonexistent/stas_native.node' },
  );
  assert.equal(r.code, 0, r.stderr);
  const [available, error] = r.stdout.trim().split('\n');
  assert.equal(available, 'false');
  assert.match(error ?? '', /^ERR_STAS_NATIVE native addon not built: .*\/nonexistent\/stas_native\.node/);
});

test('a kernel uevent arrives as a raw datagram', {
  skip: skip ?? (!canTriggerUevent() && `cannot write ${LO_UEVENT}`),
}, async (t) => {
  const uuid = randomUUID();
  const errors: string[] = [];
  const got = new Promise<Buffer>((resolve) => {
    const handle = ueventWatch(
      ueventOpen(1 << 20),
      (buf) => {
        if (buf.includes(`SYNTH_UUID=${uuid}`)) resolve(buf);
      },
      (code) => errors.push(code),
    );
    t.after(() => ueventClose(handle));
  });
  triggerUevent(uuid);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no uevent within 10 s')), 10_000).unref(),
  );
  const buf = await Promise.race([got, timeout]);
  const fields = buf.toString('latin1').split('\0');
  assert.equal(fields[0], 'change@/devices/virtual/net/lo');
  assert.ok(fields.includes('ACTION=change'), fields.join(' '));
  assert.ok(fields.includes('SUBSYSTEM=net'));
  assert.ok(fields.includes('SYNTH_ARG_STASTEST=1'));
  assert.deepEqual(errors, []);
});

test("a watch with a subsystem delivers only that subsystem's uevents", {
  skip: skip ?? (!canTriggerUevent() && `cannot write ${LO_UEVENT}`),
}, async (t) => {
  const netTag = randomUUID();
  const memTag = randomUUID();
  const seen: string[] = [];
  const got = new Promise<void>((resolve) => {
    const handle = ueventWatch(
      ueventOpen(1 << 20),
      (buf) => {
        const fields = buf.toString('latin1').split('\0');
        seen.push(fields.find((f) => f.startsWith('SUBSYSTEM=')) ?? '?');
        if (buf.includes(`SYNTH_UUID=${memTag}`)) resolve();
      },
      () => {},
      'mem',
    );
    t.after(() => ueventClose(handle));
  });
  // lo (net) first, then /dev/null (mem): uevents arrive in order, so once the second is in, the first was dropped.
  triggerUevent(netTag);
  fs.writeFileSync('/sys/devices/virtual/mem/null/uevent', `change ${memTag} STASTEST=1`);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no mem uevent within 10 s')), 10_000).unref(),
  );
  await Promise.race([got, timeout]);
  assert.ok(seen.length > 0);
  assert.deepEqual(new Set(seen), new Set(['SUBSYSTEM=mem']));
  // The name is checked: 1 to 32 characters of [a-z0-9_-].
  const fd = ueventOpen(0);
  try {
    for (const bad of ['', 'Net', 'a=b', 'x'.repeat(33), 'nvme\0'])
      assert.throws(
        () =>
          ueventWatch(
            fd,
            () => {},
            () => {},
            bad,
          ),
        /subsystem/,
        JSON.stringify(bad),
      );
  } finally {
    fs.closeSync(fd);
  }
});

test('an exception thrown by onMessage becomes an uncaughtException; the watch goes on', {
  skip: skip ?? (!canTriggerUevent() && `cannot write ${LO_UEVENT}`),
}, async () => {
  const tag = randomUUID().replaceAll('-', '');
  const r = await runNode(`
    import fs from 'node:fs';
    import { ueventOpen, ueventWatch, ueventClose } from ${JSON.stringify(NATIVE_URL)};
    let n = 0;
    // The second uevent is sent once the first one's exception has been reported (no fixed delay).
    process.on('uncaughtException', (e) => {
      console.log('uncaught', e.message);
      trigger();
    });
    const h = ueventWatch(ueventOpen(1 << 20), (buf) => {
      if (!buf.includes('SYNTH_ARG_STASTEST=${tag}')) return;
      n++;
      if (n === 1) throw new Error('boom');
      console.log('second', n);
      ueventClose(h);
    }, () => {});
    const trigger = () => fs.writeFileSync('${LO_UEVENT}', 'change ${randomUUID()} STASTEST=${tag}');
    trigger();
    setTimeout(() => { console.log('timeout'); process.exit(3); }, ${scaled(8000)}).unref();
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'uncaught boom\nsecond 2\n');
});

test('scanNvmeControllers: controllers, attributes, namespace entries, errors', { skip }, async () => {
  const root = fs.mkdtempSync(`${os.tmpdir()}/scan-`);
  const dir = (...p: string[]) => fs.mkdirSync([root, ...p].join('/'), { recursive: true });
  const file = (text: string, ...p: string[]) => fs.writeFileSync([root, ...p].join('/'), text);
  dir('nvme1', 'nvme1c3n12'); // multipath namespace entry
  file('tcp\n', 'nvme1', 'transport');
  dir('nvme2', 'nvme2n1'); // plain namespace entry
  file('x'.repeat(5000), 'nvme2', 'transport'); // longer than kept: truncated to 4095 bytes
  for (const notNs of ['nvme3c1', 'nvme3n', 'nvme3nx1', 'ng3n1', 'nvme3n1p1', 'nvmen1']) dir('nvme3', notNs);
  dir('nvme4');
  fs.mkdirSync(`${root}/nvme4/transport`); // cannot be read as a file: null
  for (const notCtrl of ['nvme', 'nvme-fabrics', 'nvme5n1', 'nvmeX', 'xnvme6']) dir(notCtrl);
  const rows = await scanNvmeControllers(root, ['transport', 'absent']);
  const byName = new Map(rows.map((r) => [r[0], r]));
  assert.deepEqual([...byName.keys()].sort(), ['nvme1', 'nvme2', 'nvme3', 'nvme4']);
  assert.deepEqual(byName.get('nvme1'), ['nvme1', true, 'tcp\n', null]);
  assert.deepEqual(byName.get('nvme2'), ['nvme2', true, 'x'.repeat(4095), null]);
  assert.deepEqual(byName.get('nvme3'), ['nvme3', false, null, null]);
  assert.deepEqual(byName.get('nvme4'), ['nvme4', false, null, null]);
  await assert.rejects(scanNvmeControllers(`${root}/absent`, ['transport']), {
    code: 'ENOENT',
    syscall: 'opendir',
  });
  for (const bad of [[], ['a/b'], ['..'], ['.'], Array(33).fill('x'), [''], [7]] as never[])
    await assert.rejects(
      scanNvmeControllers(root, bad),
      (e: Error) => e instanceof TypeError || e instanceof RangeError,
      JSON.stringify(bad),
    );
});

test('fabricsConnect: writes the options and reads the reply at offset 0 on one descriptor; errors name the call', {
  skip,
}, async () => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/fabrics-`);
  const device = `${dir}/nvme-fabrics`;
  // A plain file stands in for the device: the write lands at offset 0, the read gives it back.
  fs.writeFileSync(device, 'x'.repeat(200));
  assert.equal(
    await fabricsConnect(device, 'instance=7,cntlid=1\n'),
    `instance=7,cntlid=1\n${'x'.repeat(108)}`,
  );
  // 128 bytes at most come back.
  assert.equal((await fabricsConnect(device, 'y')).length, 128);
  await assert.rejects(fabricsConnect(`${dir}/missing`, 'a'), {
    code: 'ENOENT',
    syscall: 'open',
    path: `${dir}/missing`,
  });
  await assert.rejects(fabricsConnect(dir, 'a'), { code: 'EISDIR', syscall: 'open' });
  await assert.rejects(fabricsConnect(device, ''), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(fabricsConnect(device, 'a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(fabricsConnect(device, 'a'.repeat(4097)), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects((fabricsConnect as (p: unknown, o: unknown) => Promise<string>)(device, 5), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
});

test('writeAttribute: opens write-only, writes all of the text, closes; errors name the call', {
  skip,
}, async () => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/attr-`);
  const file = `${dir}/delete_controller`;
  fs.writeFileSync(file, '');
  await writeAttribute(file, '1');
  assert.equal(fs.readFileSync(file, 'utf8'), '1');
  await assert.rejects(writeAttribute(`${dir}/gone/delete_controller`, '1'), {
    code: 'ENOENT',
    syscall: 'open',
    path: `${dir}/gone/delete_controller`,
  });
  // /dev/full refuses every write: the error is the write's.
  await assert.rejects(writeAttribute('/dev/full', '1'), {
    code: 'ENOSPC',
    syscall: 'write',
    path: '/dev/full',
  });
  await assert.rejects(writeAttribute(file, ''), { code: 'ERR_OUT_OF_RANGE' });
});
