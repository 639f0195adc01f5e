// The metrics endpoint adapter: GET /metrics over a unix socket and loopback TCP, other paths and methods,
// socket permissions, stale and live sockets, removal on close, listen failures.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMetricsServer } from '../../src/adapters/metrics-server.js';
import { OPENMETRICS_CONTENT_TYPE } from '../../src/core/metrics.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(
  target: { socketPath: string } | { host: string; port: number },
  path = '/metrics',
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const dir = () => mkdtempSync(join(tmpdir(), 'metrics-server-'));

test('unix socket: mode 0660, GET /metrics with the OpenMetrics type, 404/405 otherwise, removed on close', async () => {
  const path = join(dir(), 'metrics.sock');
  let n = 0;
  const server = await startMetricsServer({ kind: 'unix', path }, () => `# scrape ${++n}\n# EOF\n`);
  assert.equal(server.address, `unix:${path}`);
  const st = lstatSync(path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);

  const r = await get({ socketPath: path });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], OPENMETRICS_CONTENT_TYPE);
  assert.equal(r.body, '# scrape 1\n# EOF\n');
  assert.equal((await get({ socketPath: path }, '/metrics?x=1')).body, '# scrape 2\n# EOF\n');
  const head = await get({ socketPath: path }, '/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await get({ socketPath: path }, '/')).status, 404);
  assert.equal((await get({ socketPath: path }, '/metricsx')).status, 404);
  const post = await get({ socketPath: path }, '/metrics', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers['allow'], 'GET, HEAD');

  await server.close();
  await server.close(); // idempotent
  assert.equal(existsSync(path), false);
});

test('unix socket: a stale socket is replaced; a live one and a regular file are left alone', async () => {
  const d = dir();
  // A socket left by a process that died without closing it.
  const stale = join(d, 'stale.sock');
  const r = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(lstatSync(stale).isSocket());
  const s1 = await startMetricsServer({ kind: 'unix', path: stale }, () => '# EOF\n');
  assert.equal((await get({ socketPath: stale })).body, '# EOF\n');

  // The same path while s1 listens: in use.
  await assert.rejects(
    startMetricsServer({ kind: 'unix', path: stale }, () => ''),
    /is in use by another process/,
  );
  assert.equal((await get({ socketPath: stale })).status, 200, 'the live endpoint still answers');
  await s1.close();

  const file = join(d, 'file');
  writeFileSync(file, 'keep me');
  await assert.rejects(
    startMetricsServer({ kind: 'unix', path: file }, () => ''),
    /is not a socket/,
  );
  assert.equal(readFileSync(file, 'utf8'), 'keep me');

  await assert.rejects(
    startMetricsServer({ kind: 'unix', path: join(d, 'missing', 'm.sock') }, () => ''),
    /directory .*missing does not exist/,
  );
});

test('TCP on 127.0.0.1 port 0: the actual port is reported; a render error is a 500; a busy port rejects', async () => {
  const server = await startMetricsServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => {
    throw new Error('boom');
  });
  const port = Number(/^http:\/\/127\.0\.0\.1:(\d+)\/metrics$/.exec(server.address)?.[1]);
  assert.ok(port > 0, server.address);
  const r = await get({ host: '127.0.0.1', port });
  assert.equal(r.status, 500);
  assert.match(r.body, /boom/);
  await assert.rejects(
    startMetricsServer({ kind: 'tcp', host: '127.0.0.1', port }, () => ''),
    /EADDRINUSE/,
  );
  await server.close();
});

test('TCP on [::1]', async (t) => {
  const probe = createServer();
  const v6 = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
  if (!v6) {
    t.skip('no IPv6 loopback');
    return;
  }
  const server = await startMetricsServer({ kind: 'tcp', host: '::1', port: 0 }, () => 'x 1\n# EOF\n');
  const port = Number(/^http:\/\/\[::1\]:(\d+)\/metrics$/.exec(server.address)?.[1]);
  assert.equal((await get({ host: '::1', port })).body, 'x 1\n# EOF\n');
  await server.close();
});
