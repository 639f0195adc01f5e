/**
 * Minimal in-place editing of an INI text (set or remove one option of one section), keeping every comment,
 * blank line and unrelated option as it was. Used by stasadm to update sys.conf. Pure.
 */

const SECTION_RE = /^\s*\[([^\]]*)\]\s*$/;
const OPTION_RE = /^\s*([^=#;\s][^=]*?)\s*=/;

/**
 * Sets `key = value` in `[section]` (replacing the last occurrence, dropping earlier duplicates), or removes every
 * occurrence when value is null. Creates the section at the end when missing. Keys compare case-insensitively.
 */
export function setIniOption(text: string, section: string, key: string, value: string | null): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const wanted = key.toLowerCase();
  let current: string | null = null;
  let lastSectionLine = -1; // last line that belongs to the wanted section (header or content)
  const hits: number[] = [];
  lines.forEach((line, i) => {
    const sec = SECTION_RE.exec(line);
    if (sec) {
      current = sec[1]!;
      if (current === section) lastSectionLine = i;
      return;
    }
    if (current !== section) return;
    if (line.trim() !== '') lastSectionLine = i;
    const opt = OPTION_RE.exec(line);
    if (opt && opt[1]!.toLowerCase() === wanted) hits.push(i);
  });
  const newLine = value === null ? null : `${key} = ${value}`;
  const out = [...lines];
  if (hits.length > 0) {
    const last = hits[hits.length - 1]!;
    for (const i of hits) out[i] = i === last && newLine !== null ? newLine : '\u0000';
    return `${out.filter((l) => l !== '\u0000').join('\n')}\n`;
  }
  if (newLine === null) return text;
  if (lastSectionLine >= 0) {
    out.splice(lastSectionLine + 1, 0, newLine);
  } else {
    if (out.length > 0 && out[out.length - 1]!.trim() !== '') out.push('');
    out.push(`[${section}]`, newLine);
  }
  return `${out.join('\n')}\n`;
}
