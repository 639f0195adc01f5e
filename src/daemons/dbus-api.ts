/**
 * The D-Bus API of both daemons: the implementation of their IDL objects on top of their services (the
 * `.debug` and `.events` interfaces are the same for both), exported with the daemon's logging of failed
 * calls. The compiler checks each implementation against the IDL (src/adapters/dbus/idl.ts).
 */
import {
  type Awaitable,
  type DebugInterface,
  type EventsInterface,
  type InterfaceImpl,
  type ObjectImpl,
  type ObjectSpec,
  STACD_OBJECT,
  STAFD_DBUS_NAME,
  STAFD_OBJECT,
  type StacdObject,
  type StafdObject,
} from '../adapters/dbus/idl.js';
import {
  type DBusConnection,
  type ExportedObject,
  exportObject,
  type TidArgs,
} from '../adapters/dbus/service.js';
import { errorText } from '../core/log.js';
import type { Logger } from './logger.js';

/** What both daemons' services give their D-Bus API. Nothing here ever carries a secret (shown as <redacted>). */
export interface DaemonApiService {
  /** Debug messages of the service (set with the logger's, by the tron property). */
  tron: boolean;
  listControllers(detailed: boolean): Awaitable<Record<string, string>[]>;
  /** JSON text */
  processInfo(): Awaitable<string>;
  /** JSON text */
  controllerInfo(...tid: TidArgs): Awaitable<string>;
  /** JSON text: the recent history */
  eventsJson(): Awaitable<string>;
}

export interface StafdApiService extends DaemonApiService {
  getLogPages(...tid: TidArgs): Awaitable<Record<string, string>[]>;
  /** JSON text */
  getAllLogPages(detailed: boolean): Awaitable<string>;
}

export interface StacdApiService extends DaemonApiService {
  /** JSON text */
  planJson(): Awaitable<string>;
}

/** `<name>.debug`: process_info, controller_info, the tron and log_level properties. */
function debugImpl(service: DaemonApiService, log: Logger): InterfaceImpl<DebugInterface> {
  return {
    process_info: () => service.processInfo(),
    controller_info: (...tid) => service.controllerInfo(...tid),
    tron: {
      get: () => log.tron,
      set: (on) => {
        log.tron = on;
        service.tron = on;
      },
    },
    log_level: { get: () => (log.tron ? 'DEBUG' : 'INFO') },
  };
}

/** `<name>.events` (stas extension). */
function eventsImpl(service: DaemonApiService): InterfaceImpl<EventsInterface> {
  return { events: () => service.eventsJson() };
}

/** stafd's object: org.nvmexpress.staf(.debug, .events). */
export function stafdImpl(service: StafdApiService, log: Logger): ObjectImpl<StafdObject> {
  return {
    'org.nvmexpress.staf.debug': debugImpl(service, log),
    'org.nvmexpress.staf': {
      list_controllers: (detailed) => service.listControllers(detailed),
      get_log_pages: (...tid) => service.getLogPages(...tid),
      get_all_log_pages: (detailed) => service.getAllLogPages(detailed),
    },
    'org.nvmexpress.staf.events': eventsImpl(service),
  };
}

/** stacd's object: org.nvmexpress.stac(.debug, .plan, .events). */
export function stacdImpl(service: StacdApiService, log: Logger): ObjectImpl<StacdObject> {
  return {
    'org.nvmexpress.stac.debug': debugImpl(service, log),
    'org.nvmexpress.stac': { list_controllers: (detailed) => service.listControllers(detailed) },
    'org.nvmexpress.stac.plan': { plan: () => service.planJson() },
    'org.nvmexpress.stac.events': eventsImpl(service),
  };
}

/** Exports `spec` backed by `impl` and owns its name; a failed call is logged (the caller gets a D-Bus error). */
function exportApi<O extends ObjectSpec>(
  bus: DBusConnection,
  spec: O,
  impl: ObjectImpl<O>,
  log: Logger,
): Promise<ExportedObject<O>> {
  return exportObject(bus, spec, impl, {
    onMethodError: (member, e) => log('error', `D-Bus ${member}: ${errorText(e)}`),
  });
}

/** stafd on the bus: its object, and its signals. */
export interface StafdDbus {
  /** Signal log_pages_changed(7 × s, s device); false if it could not be sent. */
  logPagesChanged(tid: TidArgs, device: string): boolean;
  /** Signal dc_removed(); false if it could not be sent. */
  dcRemoved(): boolean;
  /** Releases org.nvmexpress.staf and removes the object (the bus connection stays open). */
  close(): Promise<void>;
}

/** Exports /org/nvmexpress/staf, then owns org.nvmexpress.staf ("another stafd owns …" when it is taken). */
export async function exportStafdApi(
  bus: DBusConnection,
  service: StafdApiService,
  log: Logger,
): Promise<StafdDbus> {
  const obj = await exportApi(bus, STAFD_OBJECT, stafdImpl(service, log), log);
  return {
    logPagesChanged: (tid, device) => obj.emit(STAFD_DBUS_NAME, 'log_pages_changed', [...tid, device]),
    dcRemoved: () => obj.emit(STAFD_DBUS_NAME, 'dc_removed', []),
    close: () => obj.close(),
  };
}

/** Exports /org/nvmexpress/stac, then owns org.nvmexpress.stac ("another stacd owns …" when it is taken). */
export function exportStacdApi(
  bus: DBusConnection,
  service: StacdApiService,
  log: Logger,
): Promise<ExportedObject<StacdObject>> {
  return exportApi(bus, STACD_OBJECT, stacdImpl(service, log), log);
}
