/**
 * D-Bus server addresses (D-Bus specification, "Server Addresses"): `transport:key=value,key=value` entries
 * separated by ';', values percent-escaped. A client can use `unix:path=…`, `unix:abstract=…` and
 * `tcp:host=…,port=…[,family=ipv4|ipv6]`; other transports (unixexec, launchd, autolaunch, nonce-tcp, …) and
 * listen-only forms (unix:tmpdir=…) are skipped when the address names something usable too, and an error otherwise.
 */

export type BusAddress =
  | { readonly transport: 'unix'; readonly path: string }
  | { readonly transport: 'abstract'; readonly name: string }
  | { readonly transport: 'tcp'; readonly host: string; readonly port: number; readonly family?: 4 | 6 };

/** Decodes a percent-escaped value: bytes, then UTF-8. */
function unescapeValue(value: string, where: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25) {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`bad percent-escape in ${where}`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(value[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** One entry's transport and key/value pairs (values decoded); throws on a syntax error. */
function entry(text: string): { transport: string; params: Map<string, string> } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new Error(`"${text}" is not transport:key=value,…`);
  const transport = text.slice(0, colon);
  const params = new Map<string, string>();
  const rest = text.slice(colon + 1);
  if (rest !== '') {
    for (const pair of rest.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`"${pair}" in "${text}" is not key=value`);
      const key = pair.slice(0, eq);
      if (params.has(key)) throw new Error(`key "${key}" repeated in "${text}"`);
      params.set(key, unescapeValue(pair.slice(eq + 1), `"${text}"`));
    }
  }
  return { transport, params };
}

/** The address of one entry, or a string saying why it cannot be connected to (not a syntax error). */
function target(text: string): BusAddress | string {
  const { transport, params } = entry(text);
  if (transport === 'unix') {
    const path = params.get('path');
    const abstract = params.get('abstract');
    if (path !== undefined && abstract !== undefined) throw new Error(`"${text}": both path and abstract`);
    if (path !== undefined) {
      if (path === '') throw new Error(`"${text}": empty path`);
      return { transport: 'unix', path };
    }
    if (abstract !== undefined) {
      if (abstract === '') throw new Error(`"${text}": empty abstract name`);
      return { transport: 'abstract', name: abstract };
    }
    return `"${text}": a unix address to connect to needs path= or abstract=`;
  }
  if (transport === 'tcp') {
    const host = params.get('host') ?? 'localhost';
    const portText = params.get('port');
    if (portText === undefined) throw new Error(`"${text}": no port`);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
      throw new Error(`"${text}": bad port "${portText}"`);
    if (host === '') throw new Error(`"${text}": empty host`);
    const fam = params.get('family');
    if (fam === undefined) return { transport: 'tcp', host, port };
    if (fam !== 'ipv4' && fam !== 'ipv6') throw new Error(`"${text}": bad family "${fam}"`);
    return { transport: 'tcp', host, port, family: fam === 'ipv4' ? 4 : 6 };
  }
  return `"${text}": transport "${transport}" not supported`;
}

/**
 * The connectable addresses of `address`, in order. Throws an Error naming the problem on a syntax error, or when
 * no entry is usable.
 */
export function parseBusAddress(address: string): BusAddress[] {
  const out: BusAddress[] = [];
  const unusable: string[] = [];
  for (const text of address.split(';')) {
    if (text === '') continue;
    let t: BusAddress | string;
    try {
      t = target(text);
    } catch (e) {
      throw new Error(`bad D-Bus address: ${(e as Error).message}`);
    }
    if (typeof t === 'string') unusable.push(t);
    else out.push(t);
  }
  if (out.length === 0) {
    throw new Error(
      unusable.length > 0
        ? `bad D-Bus address: ${unusable.join('; ')}`
        : `bad D-Bus address "${address}": empty`,
    );
  }
  return out;
}

/** The address in D-Bus form again (for messages), values escaped only where needed. */
export function formatBusAddress(a: BusAddress): string {
  const esc = (v: string) =>
    [...Buffer.from(v, 'utf8')]
      .map((b) =>
        /[-0-9A-Za-z_/.\\*]/.test(String.fromCharCode(b))
          ? String.fromCharCode(b)
          : `%${b.toString(16).padStart(2, '0')}`,
      )
      .join('');
  switch (a.transport) {
    case 'unix':
      return `unix:path=${esc(a.path)}`;
    case 'abstract':
      return `unix:abstract=${esc(a.name)}`;
    case 'tcp':
      return `tcp:host=${esc(a.host)},port=${a.port}${a.family ? `,family=ipv${a.family}` : ''}`;
  }
}
