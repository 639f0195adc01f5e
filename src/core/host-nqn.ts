/** Host NQN / host ID derivation as nvme-stas' stasadm does it (machine-id HMAC, SMBIOS UUID order). Pure. */
import { nodeCrypto } from './node-crypto.js';

/** The application key nvme-stas uses for the machine-id HMAC. */
const APP_ID = '$nvmexpress.org$';

export const UUID_NQN_PREFIX = 'nqn.2014-08.org.nvmexpress:uuid:';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** 16 bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower case). */
export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * An application-specific UUID from /etc/machine-id (32 hex characters): the first 16 bytes of
 * HMAC-SHA256(key = "$nvmexpress.org$", message = the 16 machine-id bytes), with the RFC 4122 version 4 and
 * variant bits set. Returns null if the text is not a machine id. (Key and message in nvme-stas' order, which
 * differs from systemd's sd_id128_get_machine_app_specific().)
 */
export function uuidFromMachineId(machineId: string): string | null {
  const hex = machineId.trim();
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  const digest = nodeCrypto().createHmac('sha256', APP_ID).update(Buffer.from(hex, 'hex')).digest();
  const b = digest.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return formatUuid(b);
}

/**
 * DMI product_uuid as stasadm reads it: the first three groups byte-swapped (SMBIOS 3.0 §7.2.1 little-endian
 * fields to network order). Returns null unless the text is a 36-character UUID.
 */
export function uuidFromSmbiosProductUuid(text: string): string | null {
  const id = text.trim();
  if (id.length !== 36 || !isUuid(id)) return null;
  const order = [6, 7, 4, 5, 2, 3, 0, 1, 8, 11, 12, 9, 10, 13, 16, 17, 14, 15];
  return order.map((i) => id[i]).join('') + id.slice(18);
}

export function hostNqnFromUuid(uuid: string): string {
  return `${UUID_NQN_PREFIX}${uuid.toLowerCase()}`;
}
