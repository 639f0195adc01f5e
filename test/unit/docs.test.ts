import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  defaultStacdConfig,
  defaultStafdConfig,
  parseStacdConfig,
  parseStafdConfig,
} from '../../src/core/config/service-config.js';
import { defaultSysConfig, parseSysConfig } from '../../src/core/config/sys-config.js';
import { generatedFiles } from '../../tools/docs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('committed man pages and configuration templates are what the schema generates (run npm run docs)', () => {
  for (const [path, content] of generatedFiles()) {
    assert.equal(readFileSync(ROOT + path, 'utf8'), content, `${path} is stale: run npm run docs`);
  }
});

test('the shipped configuration templates parse without a diagnostic and mean the defaults', () => {
  const files = generatedFiles();
  const stafd = parseStafdConfig(files.get('etc/stas/stafd.conf')!);
  assert.deepEqual(stafd.diagnostics, []);
  assert.deepEqual(stafd.config, defaultStafdConfig());
  const stacd = parseStacdConfig(files.get('etc/stas/stacd.conf')!);
  assert.deepEqual(stacd.diagnostics, []);
  assert.deepEqual(stacd.config, defaultStacdConfig());
  const sys = parseSysConfig(files.get('etc/stas/sys.conf.doc')!);
  assert.deepEqual(sys.diagnostics, []);
  assert.deepEqual(sys.config, defaultSysConfig());
});

test('every schema option is documented in its man page', () => {
  const files = generatedFiles();
  for (const [page, keys] of [
    [
      'man/stacd.conf.5',
      [
        'disconnect-scope',
        'disconnect-trtypes',
        'connect-attempts-on-ncc',
        'udev-rule',
        'nr-io-queues',
        'controller',
        'exclude',
      ],
    ],
    [
      'man/stafd.conf.5',
      ['zeroconf', 'persistent-connections', 'zeroconf-connections-persistence', 'pleo', 'kato'],
    ],
    [
      'man/org.nvmexpress.staf.5',
      ['get_all_log_pages', 'log_pages_changed', 'dc_removed', 'process_info', 'tron'],
    ],
    ['man/org.nvmexpress.stac.5', ['list_controllers', 'plan']],
  ] as const) {
    for (const k of keys) assert.ok(files.get(page)!.includes(k.replace(/-/g, '\\-')), `${k} in ${page}`);
  }
});
