/**
 * node:crypto, loaded on first use: only DH-HMAC-CHAP, a host NQN derivation and D-Bus cookie authentication need
 * it, and loading it (some twenty internal modules) costs an idle daemon ~2 MiB of RSS (issue 14 §3).
 * process.getBuiltinModule rather than createRequire: node:module (another ~0.1 MiB) stays unloaded too.
 */
type NodeCrypto = typeof import('node:crypto');
let loaded: NodeCrypto | undefined;

export const nodeCrypto = (): NodeCrypto => (loaded ??= process.getBuiltinModule('node:crypto'));
