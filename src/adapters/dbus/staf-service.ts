/** stafd's D-Bus service: org.nvmexpress.staf(.debug) at /org/nvmexpress/staf, backed by a StafApi. */
import { STAFD_DBUS_NAME, STAFD_OBJECT } from './idl.js';
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
 * What stafd implements. Every method gets the caller as an optional last argument (`ctx.uid`, 0 = root):
 * the daemon masks DH-HMAC-CHAP secrets in what it returns unless `ctx.uid === 0`. Methods may be async.
 * A thrown error becomes a D-Bus error for that caller only.
 */
export interface StafApi {
  /** list_controllers(b detailed) → aa{ss} */
  listControllers(detailed: boolean, ctx?: CallContext): Awaitable<Record<string, string>[]>;
  /** get_log_pages(7 × s) → aa{ss} */
  getLogPages(...args: [...tid: TidArgs, ctx?: CallContext]): Awaitable<Record<string, string>[]>;
  /** get_all_log_pages(b detailed) → s (JSON) */
  getAllLogPages(detailed: boolean, ctx?: CallContext): Awaitable<string>;
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
}

export interface StafService {
  /** Signal log_pages_changed(7 × s, s device); false if it could not be sent. */
  logPagesChanged(tid: TidArgs, device: string): boolean;
  /** Signal dc_removed(); false if it could not be sent. */
  dcRemoved(): boolean;
  /** Releases org.nvmexpress.staf and removes the object (the bus connection stays open). */
  close(): Promise<void>;
}

const tid = (args: unknown[]) => args.slice(0, 7) as TidArgs;

/**
 * Exports /org/nvmexpress/staf on `bus`, then owns org.nvmexpress.staf. Rejects with
 * "another stafd owns org.nvmexpress.staf" when the name is taken.
 */
export async function exportStafService(
  bus: MessageBus,
  api: StafApi,
  opts: ExportOptions = {},
): Promise<StafService> {
  const main = STAFD_DBUS_NAME;
  const debug = `${STAFD_DBUS_NAME}.debug`;
  const obj = await exportObject(
    bus,
    STAFD_OBJECT,
    {
      methods: {
        [`${main}.list_controllers`]: ([detailed], ctx) => api.listControllers(detailed as boolean, ctx),
        [`${main}.get_log_pages`]: (args, ctx) => api.getLogPages(...tid(args), ctx),
        [`${main}.get_all_log_pages`]: ([detailed], ctx) => api.getAllLogPages(detailed as boolean, ctx),
        [`${debug}.process_info`]: (_args, ctx) => api.processInfo(ctx),
        [`${main}.events.events`]: (_args, ctx) => api.events(ctx),
        [`${debug}.controller_info`]: (args, ctx) => api.controllerInfo(...tid(args), ctx),
      },
      properties: {
        [`${debug}.tron`]: { get: () => api.getTron(), set: (v) => api.setTron(v as boolean) },
        [`${debug}.log_level`]: { get: () => api.logLevel() },
      },
    },
    opts,
  );
  return {
    logPagesChanged: (t, device) => obj.emit(main, 'log_pages_changed', [...t, device]),
    dcRemoved: () => obj.emit(main, 'dc_removed', []),
    close: () => obj.close(),
  };
}
