/** Typed failures of a userspace NVMe/TCP discovery session: one class per cause, so callers can decide. */
import { describeStatus, type NvmeStatus } from '../../core/nvme/commands.js';

export class FabricError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** TCP connect failed (refused, unreachable, no route…): `code` is the errno name. */
export class ConnectError extends FabricError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A command (or the connection set-up) got no answer in time. */
export class CommandTimeoutError extends FabricError {}

/** The controller completed a command with an error status. */
export class NvmeStatusError extends FabricError {
  constructor(
    readonly command: string,
    readonly status: NvmeStatus,
  ) {
    super(`${command} failed: ${describeStatus(status)}`);
  }
}

/** The peer violated NVMe/TCP (bad PDU, bad sequence); the session was closed. */
export class PeerProtocolError extends FabricError {}

/** The session is closed (by us, by the peer, or after an error). */
export class SessionClosedError extends FabricError {}
