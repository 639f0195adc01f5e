/**
 * What dbus-next needs of `xml2js`, written for stas: the daemon bundle maps `xml2js` to this module
 * (tools/bundle.ts), so xml2js, xmlbuilder and sax (~145 KB of source, ~0.9 MiB RSS per idle daemon) are not loaded.
 *
 * - `Builder`: dbus-next's `_introspect` (the Introspect reply of the parent nodes `/`, `/org`, … and of exported
 *   paths) serializes an object in xml2js' convention with `new Builder({ headless: true }).buildObject(obj)`:
 *   `$` holds the attributes, `_` the text, an array is repeated child elements, an object one child element, a
 *   string or number text. The output is the same bytes xml2js 0.6 writes (pretty-printed, two-space indent,
 *   `<x/>` for an element without content, no trailing newline), so `busctl introspect` sees no change; the unit
 *   test introspect-xml.test.ts compares the two on stafd's and stacd's objects.
 * - `Parser`: dbus-next's client side (`getProxyObject`) parses introspection XML; stas never calls it (its clients
 *   call methods by name). The parser fails loudly instead, so that a future use shows up at once.
 */

type XmlNode = { name: string; attrs: Map<string, string>; children: (XmlNode | string)[] };

/** Characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE/U+FFFF, unpaired surrogates). */
function assertXmlChars(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let bad = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else bad = true;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      bad = true;
    }
    if (bad) {
      throw new Error(
        `introspection XML: character U+${c.toString(16).toUpperCase().padStart(4, '0')} at index ${i} cannot be written in XML 1.0`,
      );
    }
  }
  return s;
}

// Element and attribute names: the XML Name production, restricted to what a D-Bus document can need (ASCII
// letters, digits, `_ - . :`, and any non-ASCII letter). A name outside it would make the document unreadable.
const NAME = /^[A-Za-z_:\u00C0-\uFFFD][A-Za-z0-9_:.\u00B7\u00C0-\uFFFD-]*$/;

function checkedName(name: string): string {
  if (!NAME.test(name)) throw new Error(`introspection XML: ${JSON.stringify(name)} is not an XML name`);
  return name;
}

/** Text content: `& < >` as entities, CR as a character reference (it would be read back as LF). */
function escapeText(v: unknown): string {
  return assertXmlChars(
    String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;'),
  );
}

/**
 * An attribute value in double quotes: `& < "` as entities, tab, LF and CR as character references (a reader
 * normalizes them to spaces otherwise). `>` is legal in an attribute and left as it is, as xml2js does.
 */
function escapeAttr(v: unknown): string {
  if (v === undefined || v === null) throw new Error('introspection XML: an attribute without a value');
  return assertXmlChars(
    String(v)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/"/g, '&quot;')
      .replace(/\t/g, '&#x9;')
      .replace(/\n/g, '&#xA;')
      .replace(/\r/g, '&#xD;'),
  );
}

function child(parent: XmlNode, name: string): XmlNode {
  const node: XmlNode = { name: checkedName(name), attrs: new Map(), children: [] };
  parent.children.push(node);
  return node;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Fills `node` from one value of the xml2js convention. */
function fill(node: XmlNode, value: unknown): void {
  if (value === null) return;
  if (typeof value !== 'object') {
    if (value === undefined) throw new Error(`introspection XML: <${node.name}> has undefined text`);
    node.children.push(escapeText(value));
    return;
  }
  if (Array.isArray(value)) {
    // An array as the content of an element: each item's keys are child elements.
    for (const item of value) {
      if (isObject(item)) for (const key of Object.keys(item)) fill(child(node, key), item[key]);
    }
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (key === '$') {
      if (isObject(v))
        for (const attr of Object.keys(v)) node.attrs.set(checkedName(attr), escapeAttr(v[attr]));
    } else if (key === '_') {
      fill(node, v ?? undefined);
    } else if (Array.isArray(v)) {
      for (const item of v) fill(child(node, key), item);
    } else if (isObject(v) || v === null) {
      fill(child(node, key), v);
    } else {
      fill(child(node, key), v === undefined ? '' : v);
    }
  }
}

const INDENT = '  ';

function render(node: XmlNode, depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  let open = `${pad}<${node.name}`;
  for (const [k, v] of node.attrs) open += ` ${k}="${v}"`;
  const kids = node.children;
  if (kids.every((c) => c === '')) {
    out.push(`${open}/>\n`);
  } else if (kids.length === 1 && typeof kids[0] === 'string') {
    out.push(`${open}>${kids[0]}</${node.name}>\n`);
  } else {
    out.push(`${open}>\n`);
    for (const c of kids) {
      if (typeof c === 'string') out.push(`${pad}${INDENT}${c}\n`);
      else render(c, depth + 1, out);
    }
    out.push(`${pad}</${node.name}>\n`);
  }
}

/** The options dbus-next passes (`{ headless: true }`); anything else is refused rather than ignored. */
export interface BuilderOptions {
  headless?: boolean;
}

export class Builder {
  constructor(opts: BuilderOptions = {}) {
    const extra = Object.keys(opts).filter((k) => k !== 'headless');
    if (opts.headless !== true || extra.length > 0) {
      throw new Error(`stas' XML builder writes headless documents only (options ${JSON.stringify(opts)})`);
    }
  }

  /** The document for `obj`: its one key is the root element (several keys: a `<root>` around them). */
  buildObject(obj: unknown): string {
    let rootName = 'root';
    let content = obj;
    if (isObject(obj) && !Array.isArray(obj)) {
      const keys = Object.keys(obj);
      if (keys.length === 1) {
        rootName = keys[0]!;
        content = obj[rootName];
      }
    }
    const root: XmlNode = { name: checkedName(rootName), attrs: new Map(), children: [] };
    fill(root, content);
    const out: string[] = [];
    render(root, 0, out);
    return out.join('').slice(0, -1);
  }
}

export const PARSE_REFUSED =
  'stas does not parse introspection XML (dbus-next getProxyObject is not supported)';

/** xml2js' Parser as far as dbus-next's ProxyObject calls it: every parse fails with PARSE_REFUSED. */
export class Parser {
  parseString(_xml: string, cb: (err: Error | null, result?: unknown) => void): void {
    cb(new Error(PARSE_REFUSED));
  }

  parseStringPromise(_xml: string): Promise<never> {
    return Promise.reject(new Error(PARSE_REFUSED));
  }
}
