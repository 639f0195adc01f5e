// Test harness: a private dbus-daemon (Debian package dbus-daemon) on a unix socket in a temp dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaled } from './slow.js';

export const DBUS_DAEMON = '/usr/bin/dbus-daemon';

export interface DbusDaemonOptions {
  /**
   * 'permissive' (default): everybody may own any name and call anything, the bus of the ordinary tests.
   * 'system': the default policy of Debian's system bus (owning names and method calls denied unless a
   * policy file punches a hole), with `include` files added, to test the stas policy files.
   */
  policy?: 'permissive' | 'system';
  /** Policy files to include (`<include>`, so a malformed one stops the daemon). */
  include?: string[];
  /** Socket directory mode; 0o755 lets other users (nobody) reach the socket. Default 0o700. */
  dirMode?: number;
  /** The `<listen>` address instead of `unix:path=<dir>/bus` (tcp, unix:abstract, …; `address` is what it printed). */
  listen?: string;
  /** The `<auth>` mechanisms; default EXTERNAL. */
  auth?: string[];
  /** `<allow_anonymous/>`: clients that authenticated with ANONYMOUS may connect. */
  allowAnonymous?: boolean;
  /** Extra environment of the daemon (HOME, for DBUS_COOKIE_SHA1's keyring). */
  env?: Record<string, string>;
}

export interface DbusDaemon {
  /** The bus address, e.g. "unix:path=/tmp/stas-dbus-XXXX/bus". */
  readonly address: string;
  readonly socketPath: string;
  readonly dir: string;
  /** Stops the daemon and removes the temp dir. */
  stop(): Promise<void>;
}

/** True if /usr/bin/dbus-daemon can be run here. */
export function haveDbusDaemon(): boolean {
  try {
    accessSync(DBUS_DAEMON, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const PERMISSIVE = `  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>`;

// As /usr/share/dbus-1/system.conf of Debian 12 (dbus 1.14): services must open holes with their own files.
const SYSTEM = `  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>`;

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Starts a private dbus-daemon and resolves once it listens. */
export async function startDbusDaemon(opts: DbusDaemonOptions = {}): Promise<DbusDaemon> {
  if (!haveDbusDaemon()) {
    throw new Error(`${DBUS_DAEMON} not found: install the Debian package dbus-daemon`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'stas-dbus-'));
  chmodSync(dir, opts.dirMode ?? 0o700);
  const socketPath = join(dir, 'bus');
  const config = join(dir, 'bus.conf');
  const includes = (opts.include ?? []).map((f) => `  <include>${xmlText(f)}</include>`).join('\n');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${xmlText(opts.listen ?? `unix:path=${socketPath}`)}</listen>
${(opts.auth ?? ['EXTERNAL']).map((a) => `  <auth>${xmlText(a)}</auth>`).join('\n')}
${opts.allowAnonymous ? '  <allow_anonymous/>' : ''}
${opts.policy === 'system' ? SYSTEM : PERMISSIVE}
${includes}
</busconfig>
`,
  );
  const child: ChildProcess = spawn(
    DBUS_DAEMON,
    [`--config-file=${config}`, '--nofork', '--nopidfile', '--nosyslog', '--print-address=1'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let address: string;
  try {
    address = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`dbus-daemon did not start in ${scaled(10)} s: ${stderr}`)),
        scaled(10_000),
      );
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl).trim());
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dbus-daemon exited with ${code}: ${stderr.trim()}`));
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    cleanup();
    throw e;
  }
  return {
    address,
    socketPath,
    dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      cleanup();
    },
  };
}
