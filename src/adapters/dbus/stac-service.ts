/** stacd's D-Bus service: org.nvmexpress.stac(.debug, .plan) at /org/nvmexpress/stac, backed by a StacApi. */
import { STACD_DBUS_NAME, STACD_OBJECT } from './idl.js';
import {
  type Awaitable,
  type CallContext,
  type ExportOptions,
  exportObject,
  type MessageBus,
  type TidArgs,
} from './service.js';

export type { CallContext, TidArgs } from './service.js';

/**
 * What stacd implements. Every method gets the caller as an optional last argument (`ctx.uid`, 0 = root):
 * the daemon masks DH-HMAC-CHAP secrets unless `ctx.uid === 0`. Methods may be async; a thrown error
 * becomes a D-Bus error for that caller only.
 */
export interface StacApi {
  /** list_controllers(b detailed) → aa{ss} */
  listControllers(detailed: boolean, ctx?: CallContext): Awaitable<Record<string, string>[]>;
  /** process_info() → s (JSON) */
  processInfo(ctx?: CallContext): Awaitable<string>;
  /** controller_info(7 × s) → s (JSON) */
  controllerInfo(...args: [...tid: TidArgs, ctx?: CallContext]): Awaitable<string>;
  /** property tron (b, readwrite) */
  getTron(): boolean;
  setTron(on: boolean): void;
  /** property log_level (s, read): "DEBUG" or "INFO" */
  logLevel(): string;
  /** <name>.events.events() → s (JSON): stas extension, the recent history */
  events(ctx?: CallContext): Awaitable<string>;
  /** org.nvmexpress.stac.plan.plan() → s (JSON): stas extension */
  plan(ctx?: CallContext): Awaitable<string>;
}

export interface StacService {
  /** Releases org.nvmexpress.stac and removes the object (the bus connection stays open). */
  close(): Promise<void>;
}

/**
 * Exports /org/nvmexpress/stac on `bus`, then owns org.nvmexpress.stac. Rejects with
 * "another stacd owns org.nvmexpress.stac" when the name is taken.
 */
export async function exportStacService(
  bus: MessageBus,
  api: StacApi,
  opts: ExportOptions = {},
): Promise<StacService> {
  const main = STACD_DBUS_NAME;
  const debug = `${STACD_DBUS_NAME}.debug`;
  const obj = await exportObject(
    bus,
    STACD_OBJECT,
    {
      methods: {
        [`${main}.list_controllers`]: ([detailed], ctx) => api.listControllers(detailed as boolean, ctx),
        [`${debug}.process_info`]: (_args, ctx) => api.processInfo(ctx),
        [`${main}.events.events`]: (_args, ctx) => api.events(ctx),
        [`${debug}.controller_info`]: (args, ctx) =>
          api.controllerInfo(...(args.slice(0, 7) as TidArgs), ctx),
        [`${main}.plan.plan`]: (_args, ctx) => api.plan(ctx),
      },
      properties: {
        [`${debug}.tron`]: { get: () => api.getTron(), set: (v) => api.setTron(v as boolean) },
        [`${debug}.log_level`]: { get: () => api.logLevel() },
      },
    },
    opts,
  );
  return { close: () => obj.close() };
}
