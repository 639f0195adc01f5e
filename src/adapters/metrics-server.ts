/**
 * The metrics endpoint: a node:http server answering GET /metrics with the OpenMetrics text the caller renders,
 * on a loopback TCP address or a unix socket (mode 0660; a stale socket left by a crash is replaced, a live one
 * or any other file is not; the socket is removed on close). No authentication: hence loopback or a socket only
 * (the address was checked by parseMetricsListen).
 */
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { errorText } from '../core/log.js';
import { describeListen, type MetricsListen, OPENMETRICS_CONTENT_TYPE } from '../core/metrics.js';

export interface MetricsServer {
  /** Where it listens (the actual port when 0 was asked): `http://127.0.0.1:PORT/metrics` or `unix:PATH`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Whether something accepts connections on the unix socket `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes a socket nobody listens on; refuses to touch a live socket or anything that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  // Node reports a missing directory as EACCES when binding: say what it is.
  if (!existsSync(dirname(path))) throw new Error(`directory ${dirname(path)} does not exist`);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  if (await socketAlive(path)) throw new Error(`${path} is in use by another process`);
  unlinkSync(path);
}

function listen(server: Server, l: MetricsListen): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (l.kind === 'tcp') {
      server.listen({ host: l.host, port: l.port, ipv6Only: l.host === '::1' }, done);
      return;
    }
    // The socket file is created by bind() inside listen(): with this umask it never exists with wider rights.
    const umask = process.umask(0o117);
    try {
      server.listen(l.path, done);
    } finally {
      process.umask(umask);
    }
  });
}

/** Starts the endpoint; `render` is called on each scrape. Rejects when it cannot listen. */
export async function startMetricsServer(l: MetricsListen, render: () => string): Promise<MetricsServer> {
  // node:http is loaded here, not at start: a daemon without `metrics=` never pays for it.
  const { createServer } = await import('node:http');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${errorText(e)}\n`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': OPENMETRICS_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // Bounded: a scrape is one small request.
  server.maxConnections = 16;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  if (l.kind === 'unix') await removeStaleSocket(l.path);
  await listen(server, l);
  let ino: number | bigint | undefined;
  if (l.kind === 'unix')
    try {
      chmodSync(l.path, 0o660);
      ino = lstatSync(l.path).ino;
    } catch (e) {
      server.close();
      throw e;
    }

  const addr = server.address();
  const actual: MetricsListen =
    l.kind === 'tcp' && addr && typeof addr === 'object' ? { ...l, port: addr.port } : l;
  let closed: Promise<void> | undefined;
  return {
    address: describeListen(actual),
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => {
        // libuv unlinks the socket when closing it; make sure, without touching a socket made since by another.
        if (l.kind === 'unix')
          try {
            if (lstatSync(l.path).ino === ino) unlinkSync(l.path);
          } catch {
            // gone already
          }
      });
      return closed;
    },
  };
}
