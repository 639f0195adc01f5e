/**
 * Host name resolution as the daemons use it (stafd's `controller=` lines may name a host): a port, so services
 * are tested without DNS, and its default over the system resolver (node:dns lookup: /etc/hosts, DNS, per nsswitch).
 */

export interface Resolver {
  /** The addresses of `host`, best first (of one family when given); rejects when the name does not resolve. */
  resolve(host: string, family?: 4 | 6): Promise<string[]>;
}

/** The system resolver (getaddrinfo through node:dns, loaded on the first lookup: most hosts never name one). */
export const systemResolver: Resolver = {
  resolve: async (host, family) => {
    const { lookup } = await import('node:dns/promises');
    return (await lookup(host, { all: true, ...(family ? { family } : {}) })).map((a) => a.address);
  },
};
