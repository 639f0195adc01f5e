/**
 * Reads the host-wide exclusion list (/etc/nvme/exclusions.conf and exclusions.conf.d/*.conf) for the planners,
 * fresh on every pass as libnvme does (an edit applies on the next pass), and watches the files so an edit also
 * triggers a pass. Fail-open: a missing or unreadable list excludes nothing. Problems are logged once per change.
 */
import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import type { ExcludeFields } from '../core/exclude.js';
import {
  applicableExclusions,
  EXCLUSIONS_DROPIN_DIR,
  EXCLUSIONS_FILE,
  type HostExclusion,
  parseExclusionList,
} from '../core/exclusion-list.js';
import { errorText, type LogFn } from '../core/log.js';
import { readdir, readFile } from './fs-async.js';

export const DEFAULT_NVME_DIR = '/etc/nvme';

export class HostExclusionList {
  private lastProblems = '';
  private lastSummary = '';
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: LogFn,
    readonly dir: string = DEFAULT_NVME_DIR,
  ) {}

  /** The files that make up the list now: the main file, then the drop-ins in name order. */
  async files(): Promise<string[]> {
    const dropins = await readdir(join(this.dir, EXCLUSIONS_DROPIN_DIR)).catch(() => [] as string[]);
    return [
      join(this.dir, EXCLUSIONS_FILE),
      ...dropins
        .filter((n) => n.endsWith('.conf'))
        .sort()
        .map((n) => join(this.dir, EXCLUSIONS_DROPIN_DIR, n)),
    ];
  }

  /** Every entry of every file (unreadable files count as empty). */
  async entries(): Promise<HostExclusion[]> {
    const entries: HostExclusion[] = [];
    const problems: string[] = [];
    for (const file of await this.files()) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') problems.push(`File:${file}: cannot be read (${code ?? errorText(e)})`);
        continue;
      }
      const parsed = parseExclusionList(text, file);
      entries.push(...parsed.entries);
      problems.push(...parsed.problems);
    }
    const joined = problems.join('\n');
    if (joined !== this.lastProblems) {
      this.lastProblems = joined;
      for (const p of problems) this.log('warning', p);
    }
    const summary = entries.map((e) => `${e.where} ${e.text}`).join('\n');
    if (summary !== this.lastSummary) {
      this.lastSummary = summary;
      this.log('info', `Host exclusion list: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
    }
    return entries;
  }

  /** The entries that apply to this host, as exclude fields for the planners. */
  async load(hostId: string): Promise<ExcludeFields[]> {
    return applicableExclusions(await this.entries(), hostId);
  }

  /**
   * Calls `onChange` (debounced) when a file of the list may have changed. Watches the directory and the drop-in
   * directory when they exist; without them there is nothing to watch and edits apply on the next pass.
   */
  watch(onChange: () => void, debounceMs = 200): void {
    const fire = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(onChange, debounceMs);
      this.timer.unref?.();
    };
    const dropinDir = join(this.dir, EXCLUSIONS_DROPIN_DIR);
    let dropinWatcher: FSWatcher | undefined;
    const watchDropins = () => {
      if (dropinWatcher) return;
      dropinWatcher = this.watchDir(dropinDir, (name) => name === null || name.endsWith('.conf'), fire);
    };
    this.watchDir(
      this.dir,
      (name) => name === null || name === EXCLUSIONS_FILE || name === EXCLUSIONS_DROPIN_DIR,
      () => {
        watchDropins(); // the drop-in directory may just have been created
        fire();
      },
    );
    watchDropins();
  }

  private watchDir(
    dir: string,
    relevant: (name: string | null) => boolean,
    fire: () => void,
  ): FSWatcher | undefined {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (relevant(name === null ? null : name.toString())) fire();
      });
      w.on('error', () => w.close());
      this.watchers.push(w);
      return w;
    } catch {
      return undefined; // the directory does not exist (yet)
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
