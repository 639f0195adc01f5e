// Typings of the parts of dbus-next 0.10.2 that stas uses, for the specifier 'dbus-next/index.js'.

// Import dbus-next as 'dbus-next/index.js' (the same runtime module as 'dbus-next'): the types.d.ts the
// package ships for the bare name has wrong values (MessageType, MessageFlag) and member types, and two
// ambient declarations of one module name would merge.
declare module 'dbus-next/index.js' {
  import type { EventEmitter } from 'node:events';

  /** A D-Bus variant: a value with its type signature. */
  class Variant<T = unknown> {
    constructor(signature: string, value: T);
    signature: string;
    value: T;
  }

  /** An error reply (received from a call) or an error to reply with (thrown from a service member). */
  class DBusError extends Error {
    constructor(type: string, text?: string, reply?: Message | null);
    type: string;
    text: string;
    reply: Message | null;
  }

  interface MessageInit {
    type?: number;
    serial?: number;
    path?: string;
    interface?: string;
    member?: string;
    errorName?: string;
    replySerial?: number;
    destination?: string;
    sender?: string;
    signature?: string;
    body?: unknown[];
    flags?: number;
  }

  class Message {
    constructor(init: MessageInit);
    type: number;
    serial: number | null;
    path: string | undefined;
    interface: string | undefined;
    member: string | undefined;
    errorName: string | undefined;
    replySerial: number | undefined;
    destination: string | undefined;
    sender: string | undefined;
    signature: string;
    body: unknown[];
    flags: number;
    static newError(msg: Message, errorName: string, errorText?: string): Message;
    static newMethodReturn(msg: Message, signature?: string, body?: unknown[]): Message;
    static newSignal(
      path: string,
      iface: string,
      name: string,
      signature?: string,
      body?: unknown[],
    ): Message;
  }

  interface PropertyOptions {
    signature: string;
    access?: 'read' | 'write' | 'readwrite';
    name?: string;
    disabled?: boolean;
  }

  interface MethodOptions {
    inSignature?: string;
    outSignature?: string;
    name?: string;
    disabled?: boolean;
    noReply?: boolean;
  }

  interface SignalOptions {
    signature?: string;
    name?: string;
    disabled?: boolean;
  }

  /** Base class of exported interfaces; members are declared with `configureMembers` on a subclass. */
  class Interface {
    constructor(name: string);
    $name: string;
    static configureMembers(members: {
      properties?: Record<string, PropertyOptions>;
      methods?: Record<string, MethodOptions>;
      signals?: Record<string, SignalOptions>;
    }): void;
  }

  /** A connection to a message bus. Emits 'connect' (after Hello), 'message' (every message), 'error'. */
  class MessageBus extends EventEmitter {
    /** The unique name (":1.42") once connected, else null. */
    name: string | null;
    export(path: string, iface: Interface): void;
    unexport(path: string, iface?: Interface): void;
    requestName(name: string, flags: number): Promise<number>;
    releaseName(name: string): Promise<number>;
    call(msg: Message): Promise<Message>;
    send(msg: Message): void;
    /** dbus-next internals (0.10.2, pinned): the socket, the only way to learn that the connection closed. */
    _connection?: {
      stream?: { writable?: boolean; destroyed?: boolean; once?: (ev: 'close', f: () => void) => void };
    };
    /** Runs before dbus-next's own dispatch of every incoming method call; return true if handled. */
    addMethodHandler(fn: (msg: Message) => boolean): void;
    removeMethodHandler(fn: (msg: Message) => boolean): void;
    disconnect(): void;
  }

  interface DbusNext {
    Variant: typeof Variant;
    DBusError: typeof DBusError;
    Message: typeof Message;
    interface: { Interface: typeof Interface };
    MessageType: { METHOD_CALL: 1; METHOD_RETURN: 2; ERROR: 3; SIGNAL: 4 };
    NameFlag: { ALLOW_REPLACEMENT: 1; REPLACE_EXISTING: 2; DO_NOT_QUEUE: 4 };
    RequestNameReply: { PRIMARY_OWNER: 1; IN_QUEUE: 2; EXISTS: 3; ALREADY_OWNER: 4 };
    /** Connects to $DBUS_SYSTEM_BUS_ADDRESS (read at call time) or /var/run/dbus/system_bus_socket. */
    systemBus(opts?: { negotiateUnixFd?: boolean }): MessageBus;
    /** Connects to `busAddress`, else $DBUS_SESSION_BUS_ADDRESS. */
    sessionBus(opts?: { busAddress?: string; negotiateUnixFd?: boolean }): MessageBus;
  }

  const dbusNext: DbusNext;
  export default dbusNext;
  export type { DBusError, Interface, Message, MessageBus, MessageInit, Variant };
}
