/** Malformed D-Bus data (read from the wire or about to be written), or a protocol violation. */
export class DBusWireError extends Error {
  override name = 'DBusWireError';
}
