/**
 * The DH-HMAC-CHAP sequence numbers (S1) a host has answered for one controller (src/core/nvme/auth-host.ts refuses
 * a replayed one). A module of its own: stafd's runner keeps one per discovery controller without loading the
 * authentication code (auth-host, auth-ffdhe's groups) until a userspace session authenticates (issue 14 §3).
 */

/**
 * The S1 values a host has answered for one controller, so that a replayed challenge is refused. Keep one per
 * controller across connections (a reconnect must not accept an old challenge); bounded to the last `limit`.
 */
export class SeqnumHistory {
  private readonly seen: number[] = [];
  constructor(private readonly limit = 64) {}
  has(seqnum: number): boolean {
    return this.seen.includes(seqnum);
  }
  add(seqnum: number): void {
    this.seen.push(seqnum);
    if (this.seen.length > this.limit) this.seen.shift();
  }
}
