/**
 * What dbus-next's handshake takes from `crypto` (an alias in tools/bundle.ts): the two calls of its
 * DBUS_COOKIE_SHA1 authentication, loading node:crypto only when they run (stas authenticates with EXTERNAL).
 */
import type { Hash } from 'node:crypto';
import { nodeCrypto } from '../../core/node-crypto.js';

export const createHash = (algorithm: string): Hash => nodeCrypto().createHash(algorithm);
export const randomBytes = (size: number): Buffer => nodeCrypto().randomBytes(size);
