// Test harness: a real avahi-daemon in a private network + mount namespace on a private bus, and avahi-publish.
/**
 * avahi-daemon runs as `unshare --net --mount --propagation private` (as root), so it sees only a loopback
 * interface of its own: nothing reaches or leaves the machine's real networks, and a host avahi-daemon (its
 * /run/avahi-daemon pid file and socket) is not disturbed, because the namespace mounts a tmpfs on /run. The namespace's `lo` is brought up; Avahi accepts a loopback interface although it
 * lacks IFF_MULTICAST, and its own multicast loops back on it, so services published through this daemon are
 * browsed and resolved (as 127.0.0.1 on `lo`). D-Bus: the daemon and the publishers get
 * DBUS_SYSTEM_BUS_ADDRESS=<private bus>; the bus socket is a path in the file system, which the namespace keeps.
 * Debian packages: dbus-daemon, avahi-daemon, avahi-utils, iproute2, util-linux.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaled } from './slow.js';

export const AVAHI_APT_PACKAGES = ['dbus-daemon', 'avahi-daemon', 'avahi-utils', 'iproute2', 'util-linux'];

const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const UNSHARE_ARGS = ['--net', '--mount', '--propagation', 'private', '--'];

/** Absolute path of a program (PATH, then the sbin directories), or undefined. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_PATH];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

/** Why the real-Avahi tests cannot run here, or undefined when they can. */
export function avahiSkipReason(): string | undefined {
  const missing = ['dbus-daemon', 'avahi-daemon', 'avahi-publish', 'unshare', 'ip'].filter(
    (p) => !findProgram(p),
  );
  if (missing.length > 0) {
    return `${missing.join(', ')} not found: apt-get install ${AVAHI_APT_PACKAGES.join(' ')}`;
  }
  // In a user namespace avahi-daemon cannot chown its runtime directory to the (unmapped) avahi user.
  if (process.getuid?.() !== 0) return 'needs root (network and mount namespaces for avahi-daemon)';
  try {
    execFileSync(findProgram('unshare')!, [...UNSHARE_ARGS, 'true'], { stdio: 'ignore', timeout: 10_000 });
  } catch (e) {
    return `cannot create a network namespace (unshare --net --mount): ${(e as Error).message}`;
  }
  return undefined;
}

/** avahi-daemon.conf for the namespace: loopback only, both families, no wide area, no rate limit surprises. */
export const AVAHI_TEST_CONFIG = `[server]
host-name=stas-test
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=lo
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-hinfo=no
publish-workstation=no
publish-domain=no
`;

// Runs inside the namespace: loopback up, a private /run (pid file, socket), then the daemon itself (exec).
const NAMESPACE_SCRIPT = `set -e
ip link set lo up
mount -t tmpfs -o mode=0755 stas-avahi-run /run
mkdir -p /run/avahi-daemon
exec "$1" --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "$2"`;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function track(child: ChildProcess): Promise<void> {
  live.add(child);
  return new Promise((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), scaled(5_000));
  await exited;
  clearTimeout(timer);
}

/** One avahi-daemon run; restart = stop() + startAvahiDaemon() again (a new namespace, same config). */
export interface AvahiDaemon {
  readonly pid: number;
  /** What the daemon printed so far (stderr and stdout). */
  output(): string;
  /** SIGTERM (avahi-daemon leaves the bus cleanly), SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
}

/** Starts avahi-daemon on the bus at `busAddress`; resolves once it is running ("Server startup complete"). */
export async function startAvahiDaemon(busAddress: string): Promise<AvahiDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'stas-avahi-'));
  const config = join(dir, 'avahi-daemon.conf');
  writeFileSync(config, AVAHI_TEST_CONFIG);
  const child = spawn(
    findProgram('unshare')!,
    [...UNSHARE_ARGS, '/bin/sh', '-c', NAMESPACE_SCRIPT, 'sh', findProgram('avahi-daemon')!, config],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress } },
  );
  const exited = track(child);
  let out = '';
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`avahi-daemon did not start in ${scaled(15)} s:\n${out}`)),
      scaled(15_000),
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Server startup complete')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`avahi-daemon exited (${code ?? signal}):\n${out}`));
    });
  });
  const stop = async () => {
    await stopChild(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await started;
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid: child.pid!, output: () => out, stop };
}

/** A running `avahi-publish -s` (it exits when avahi-daemon goes away: publish again after a restart). */
export interface Publisher {
  readonly pid: number;
  /** Resolves once Avahi established the service ("Established under name"). */
  readonly established: Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** `avahi-publish -s NAME TYPE PORT TXT...` against the bus at `busAddress`. */
export function publishService(
  busAddress: string,
  name: string,
  type: string,
  port: number,
  txt: readonly string[],
): Publisher {
  const child = spawn(findProgram('avahi-publish')!, ['-s', name, type, String(port), ...txt], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress },
  });
  const exited = track(child);
  let out = '';
  const established = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`avahi-publish: not established in ${scaled(15)} s:\n${out}`)),
      scaled(15_000),
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Established under name')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`avahi-publish exited (${code ?? signal}):\n${out}`));
    });
  });
  established.catch(() => {});
  return { pid: child.pid!, established, output: () => out, stop: () => stopChild(child, exited) };
}
