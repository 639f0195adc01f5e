import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  loadConfigFileSync,
  loadStacdConfig,
  loadStafdConfig,
  loadSysConfig,
  loadSysConfigSync,
} from '../../src/adapters/config-file.js';
import {
  defaultStacdConfig,
  defaultStafdConfig,
  parseStafdConfig,
} from '../../src/core/config/service-config.js';
import { defaultSysConfig } from '../../src/core/config/sys-config.js';

const dir = mkdtempSync(join(tmpdir(), 'stas-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('reads and parses a file, diagnostics name its path', async () => {
  const path = join(dir, 'stafd.conf');
  writeFileSync(path, '[Global]\nkato = 12\ntron = maybe\n');
  const r = await loadStafdConfig(path);
  assert.equal(r.config.connect.kato, 12);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.file, d.line, d.message]),
    [
      [
        'warning',
        path,
        3,
        `File:${path}:3 [Global]: tron - Text check found invalid value "maybe". Default will be used`,
      ],
    ],
  );
  assert.equal(r.hasErrors, false);
});

test('a missing file gives the defaults and only an info note', async () => {
  const path = join(dir, 'nope.conf');
  const r = await loadStacdConfig(path);
  assert.deepEqual(r.config, defaultStacdConfig());
  assert.equal(r.hasErrors, false);
  assert.deepEqual(r.diagnostics, [
    { level: 'info', file: path, message: `File:${path} not found. Defaults will be used` },
  ]);
  const s = loadSysConfigSync(path);
  assert.deepEqual(s.config, defaultSysConfig());
  assert.equal(s.hasErrors, false);
});

test('a path that is not a regular file (a directory) is an error, with the defaults', async () => {
  const r = await loadStafdConfig(dir);
  assert.deepEqual(r.config, defaultStafdConfig());
  assert.equal(r.hasErrors, true);
  assert.deepEqual(r.diagnostics, [
    {
      level: 'error',
      file: dir,
      message: `File:${dir} is not a regular file (directory). Defaults will be used`,
    },
  ]);
  const s = loadConfigFileSync(dir, parseStafdConfig);
  assert.equal(s.hasErrors, true);
  assert.deepEqual(s.config, defaultStafdConfig());
  assert.deepEqual(s.diagnostics, r.diagnostics);
});

test('an unreadable path (a symbolic link loop) is an error naming the OS error, with the defaults', async () => {
  const loop = join(dir, 'loop.conf');
  symlinkSync(loop, loop);
  const r = await loadStafdConfig(loop);
  assert.deepEqual(r.config, defaultStafdConfig());
  assert.equal(r.hasErrors, true);
  assert.match(
    r.diagnostics[0]!.message,
    new RegExp(`^File:${loop} cannot be read \\(.*ELOOP.*\\)\\. Defaults will be used$`),
  );
  assert.deepEqual(loadConfigFileSync(loop, parseStafdConfig).diagnostics, r.diagnostics);
});

test('sys.conf through the adapter', async () => {
  const path = join(dir, 'sys.conf');
  writeFileSync(path, '[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:x\n');
  const r = await loadSysConfig(path);
  assert.equal(r.config.nqn, 'nqn.2014-08.org.nvmexpress:uuid:x');
  assert.equal(loadSysConfigSync(path).config.nqn, 'nqn.2014-08.org.nvmexpress:uuid:x');
  assert.deepEqual(r.diagnostics, []);
});

test('default paths are the /etc/stas ones', async () => {
  // Whatever this machine has there, loading never throws and always yields a complete config.
  const r = await loadStafdConfig();
  assert.equal(typeof r.config.connect.kato, 'number');
  assert.ok(r.diagnostics.every((d) => d.file === '/etc/stas/stafd.conf'));
  assert.ok((await loadStacdConfig()).diagnostics.every((d) => d.file === '/etc/stas/stacd.conf'));
  assert.ok((await loadSysConfig()).diagnostics.every((d) => d.file === '/etc/stas/sys.conf'));
});
