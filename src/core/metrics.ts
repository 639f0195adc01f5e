/**
 * A small metrics registry (counters, gauges and histograms, each with optional labels) and its OpenMetrics 1.0
 * text exposition. Pure: values come from the caller (durations included: there is no clock here), and values
 * that derive from a daemon's state are read through `collect` functions when the registry is exposed.
 * Also the `--metrics LISTEN` address grammar (loopback TCP or a unix socket: the endpoint is unauthenticated).
 */
import { parseIp } from './ipaddr.js';

export type Labels = Readonly<Record<string, string>>;

/** One value of a family: `collect` functions return these. */
export interface Sample {
  labels?: Labels;
  value: number;
}

export interface MetricOptions {
  /** Family name; for a counter without the `_total` suffix (the exposition adds it). */
  name: string;
  help: string;
  /** OpenMetrics unit (`seconds`, `bytes`…): the name must end with `_<unit>`. */
  unit?: string;
  /** Label names every sample must carry (none by default). */
  labelNames?: readonly string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value or HELP text: backslash, double quote and newline. */
export function escapeText(s: string): string {
  return s.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** A sample value: NaN, +Inf, -Inf or the shortest decimal form. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/** A bucket bound in canonical form: integers get `.0` (`le="1.0"`), +Inf stays `+Inf`. */
export function formatBound(v: number): string {
  const s = formatValue(v);
  return Number.isInteger(v) && !/e/i.test(s) ? `${s}.0` : s;
}

function labelText(labels: readonly (readonly [string, string])[]): string {
  return labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeText(v)}"`).join(',')}}` : '';
}

abstract class Family {
  readonly name: string;
  readonly help: string;
  readonly unit: string | undefined;
  readonly labelNames: readonly string[];
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(opts: MetricOptions) {
    if (!METRIC_NAME.test(opts.name)) throw new Error(`invalid metric name "${opts.name}"`);
    if (opts.unit !== undefined && !opts.name.endsWith(`_${opts.unit}`))
      throw new Error(`metric "${opts.name}" with unit ${opts.unit} must end with _${opts.unit}`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames)
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new Error(`invalid label name "${l}"`);
    if (new Set(labelNames).size !== labelNames.length)
      throw new Error(`duplicate label names in "${opts.name}"`);
    this.name = opts.name;
    this.help = opts.help;
    this.unit = opts.unit;
    this.labelNames = labelNames;
  }

  /** The labels in declaration order; throws unless they are exactly the declared ones. */
  protected ordered(labels: Labels): [string, string][] {
    const keys = Object.keys(labels);
    if (keys.length !== this.labelNames.length || !this.labelNames.every((n) => n in labels))
      throw new Error(
        `${this.name}: labels {${keys.join(',')}} do not match the declared {${this.labelNames.join(',')}}`,
      );
    return this.labelNames.map((n) => [n, labels[n]!]);
  }

  /** Map key of a label set. */
  protected key(labels: Labels): string {
    return JSON.stringify(this.ordered(labels).map(([, v]) => v));
  }

  protected header(): string[] {
    const h = [`# TYPE ${this.name} ${this.type}`];
    if (this.unit !== undefined) h.push(`# UNIT ${this.name} ${this.unit}`);
    h.push(`# HELP ${this.name} ${escapeText(this.help)}`);
    return h;
  }

  abstract lines(): string[];
}

/** A value per label set, stored or read through `collect` at exposition time. */
abstract class ValueFamily extends Family {
  protected readonly series = new Map<string, { labels: [string, string][]; value: number }>();

  constructor(
    opts: MetricOptions,
    protected readonly collect?: () => number | readonly Sample[],
  ) {
    super(opts);
    if (this.labelNames.length === 0 && !collect) this.series.set('[]', { labels: [], value: 0 });
  }

  protected entry(labels: Labels): { labels: [string, string][]; value: number } {
    if (this.collect) throw new Error(`${this.name}: its values are collected, not set`);
    const k = this.key(labels);
    let e = this.series.get(k);
    if (!e) {
      e = { labels: this.ordered(labels), value: 0 };
      this.series.set(k, e);
    }
    return e;
  }

  /** Current value of one label set (0 if never set). */
  get(labels: Labels = {}): number {
    return this.samples().find((s) => this.key(s.labels ?? {}) === this.key(labels))?.value ?? 0;
  }

  samples(): Sample[] {
    if (!this.collect)
      return [...this.series.values()].map((e) => ({ labels: Object.fromEntries(e.labels), value: e.value }));
    const c = this.collect();
    return typeof c === 'number' ? [{ labels: {}, value: c }] : [...c];
  }

  protected abstract readonly suffix: string;

  lines(): string[] {
    return [
      ...this.header(),
      ...this.samples().map(
        (s) => `${this.name}${this.suffix}${labelText(this.ordered(s.labels ?? {}))} ${formatValue(s.value)}`,
      ),
    ];
  }
}

export class Counter extends ValueFamily {
  readonly type = 'counter';
  protected readonly suffix = '_total';

  constructor(opts: MetricOptions, collect?: () => number | readonly Sample[]) {
    if (opts.name.endsWith('_total'))
      throw new Error(`counter "${opts.name}": give the name without _total (the exposition adds it)`);
    super(opts, collect);
  }

  /** Adds `by` (≥ 0; 0 makes the label set appear with 0). */
  inc(by = 1, labels: Labels = {}): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter cannot decrease (${by})`);
    this.entry(labels).value += by;
  }
}

export class Gauge extends ValueFamily {
  readonly type = 'gauge';
  protected readonly suffix = '';

  set(value: number, labels: Labels = {}): void {
    this.entry(labels).value = value;
  }

  inc(by = 1, labels: Labels = {}): void {
    this.entry(labels).value += by;
  }
}

/** Default bucket bounds (seconds): from 5 ms to a minute. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

export class Histogram extends Family {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly series = new Map<
    string,
    { labels: [string, string][]; counts: number[]; count: number; sum: number }
  >();

  constructor(opts: MetricOptions & { buckets?: readonly number[] }) {
    super(opts);
    if (this.labelNames.includes('le')) throw new Error(`${this.name}: "le" is reserved in histograms`);
    const b = [...(opts.buckets ?? DEFAULT_BUCKETS)];
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!)))
      throw new Error(`${this.name}: buckets must be finite and strictly increasing`);
    this.buckets = b;
    if (this.labelNames.length === 0) this.entry({});
  }

  private entry(labels: Labels) {
    const k = this.key(labels);
    let e = this.series.get(k);
    if (!e) {
      e = { labels: this.ordered(labels), counts: this.buckets.map(() => 0), count: 0, sum: 0 };
      this.series.set(k, e);
    }
    return e;
  }

  /** Records one value (≥ 0, e.g. a duration the caller measured). */
  observe(value: number, labels: Labels = {}): void {
    if (!(value >= 0) || value === Number.POSITIVE_INFINITY)
      throw new RangeError(`${this.name}: cannot observe ${value}`);
    const e = this.entry(labels);
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) e.counts[i]!++;
    e.count++;
    e.sum += value;
  }

  /** Count and sum of one label set. */
  get(labels: Labels = {}): { count: number; sum: number } {
    const e = this.series.get(this.key(labels));
    return { count: e?.count ?? 0, sum: e?.sum ?? 0 };
  }

  lines(): string[] {
    const out = this.header();
    for (const e of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += e.counts[i]!;
        out.push(`${this.name}_bucket${labelText([...e.labels, ['le', formatBound(b)]])} ${cumulative}`);
      });
      out.push(`${this.name}_bucket${labelText([...e.labels, ['le', '+Inf']])} ${e.count}`);
      out.push(`${this.name}_count${labelText(e.labels)} ${e.count}`);
      out.push(`${this.name}_sum${labelText(e.labels)} ${formatValue(e.sum)}`);
    }
    return out;
  }
}

export class Registry {
  private readonly families: Family[] = [];

  private add<F extends Family>(f: F): F {
    if (this.families.some((x) => x.name === f.name)) throw new Error(`metric "${f.name}" registered twice`);
    this.families.push(f);
    return f;
  }

  /** A counter; with `collect`, its values are read from the caller's state at each exposition. */
  counter(opts: MetricOptions, collect?: () => number | readonly Sample[]): Counter {
    return this.add(new Counter(opts, collect));
  }

  /** A gauge; with `collect`, its values are read from the caller's state at each exposition. */
  gauge(opts: MetricOptions, collect?: () => number | readonly Sample[]): Gauge {
    return this.add(new Gauge(opts, collect));
  }

  histogram(opts: MetricOptions & { buckets?: readonly number[] }): Histogram {
    return this.add(new Histogram(opts));
  }

  /** Name and type of every family, in registration order. */
  familyNames(): [string, Family['type']][] {
    return this.families.map((f) => [f.name, f.type]);
  }

  /** The OpenMetrics text exposition: families in registration order, terminated by `# EOF`. */
  expose(): string {
    return `${[...this.families.flatMap((f) => f.lines()), '# EOF'].join('\n')}\n`;
  }
}

/** Content-Type of the exposition. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Where `--metrics` listens. */
export type MetricsListen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Printable form: `http://127.0.0.1:9100/metrics`, `http://[::1]:9100/metrics` or `unix:/run/x.sock`. */
export function describeListen(l: MetricsListen): string {
  if (l.kind === 'unix') return `unix:${l.path}`;
  return `http://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}/metrics`;
}

/** The address as Node should bind it when it is a loopback literal (v4 with brackets refused, and vice versa). */
function loopbackLiteral(host: string, bracketed: boolean): string | undefined {
  if (!bracketed && host.toLowerCase() === 'localhost') return '127.0.0.1';
  const ip = parseIp(host);
  if (!ip || ip.zone !== undefined || (ip.family === 6) !== bracketed) return undefined;
  if (ip.family === 4) return ip.bytes[0] === 127 ? host : undefined;
  return ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0)) ? '::1' : undefined;
}

/**
 * Parses `--metrics LISTEN`: `127.0.0.1:PORT` (any 127.0.0.0/8 address), `[::1]:PORT`, `localhost:PORT`
 * (= 127.0.0.1), or an absolute unix socket path (`/run/stafd/metrics.sock`, also written `unix:/…`). Any other
 * address is refused: the endpoint has no authentication. PORT 0 picks a free port. Throws with a message.
 */
export function parseMetricsListen(spec: string): MetricsListen {
  const unix = spec.startsWith('unix:') ? spec.slice(5) : spec.startsWith('/') ? spec : undefined;
  if (unix !== undefined) {
    if (!unix.startsWith('/')) throw new Error(`"${spec}": the unix socket path must be absolute`);
    if (unix.endsWith('/')) throw new Error(`"${spec}": the unix socket path names a directory`);
    if (Buffer.byteLength(unix) > 107) throw new Error(`"${spec}": the unix socket path is too long`);
    if (unix.includes('\0')) throw new Error(`"${spec}": invalid unix socket path`);
    return { kind: 'unix', path: unix };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(spec);
  if (!m)
    throw new Error(
      `"${spec}": expected 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or the absolute path of a unix socket`,
    );
  const port = Number(m[3]);
  if (port > 65535 || (m[3]!.length > 1 && m[3]!.startsWith('0')))
    throw new Error(`"${spec}": invalid port ${m[3]}`);
  const host = m[1] ?? m[2]!;
  const loopback = loopbackLiteral(host, m[1] !== undefined);
  if (!loopback)
    throw new Error(
      `"${spec}": ${host || 'an empty address'} is not a loopback address. The metrics endpoint has no authentication: it listens on 127.0.0.1, [::1], localhost or a unix socket only (put a proxy in front to export it)`,
    );
  return { kind: 'tcp', host: loopback, port };
}
