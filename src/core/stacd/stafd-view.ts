/**
 * stafd's answer to get_all_log_pages (JSON of controller and DLPE dictionaries, all strings) turned back into
 * typed log entries for the planner, with the same tables stafd wrote it with (src/core/dlpe-dict.ts). Anything
 * malformed is skipped, never trusted. Pure.
 */
import { parseAllLogPages } from '../dlpe-dict.js';
import type { TidOptions } from '../tid.js';
import type { StafdView } from './plan.js';

export function stafdViewFromJson(json: string, opts: TidOptions): StafdView {
  const dcs = parseAllLogPages(json, opts);
  return dcs ? { answered: true, dcs } : { answered: false };
}
