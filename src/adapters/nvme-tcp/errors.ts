/**
 * Typed failures of a userspace NVMe/TCP discovery session: one class per cause, all of them DcSessionErrors (the
 * family the kernel session throws too) with the matching `kind`, so callers can decide without reading text.
 */
import { describeStatus, type NvmeStatus } from '../../core/nvme/commands.js';
import { DcSessionError } from '../dc-session.js';

/** TCP connect failed (refused, unreachable, no route…): `code` is the errno name. */
export class ConnectError extends DcSessionError {
  declare readonly code: string;
  constructor(code: string, message: string) {
    super('connect', message, { code });
  }
}

/** A command (or the connection set-up) got no answer in time. */
export class CommandTimeoutError extends DcSessionError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('timeout', message, options);
  }
}

/** The controller completed a command with an error status. */
export class NvmeStatusError extends DcSessionError {
  constructor(
    readonly command: string,
    readonly status: NvmeStatus,
  ) {
    super('status', `${command} failed: ${describeStatus(status)}`);
  }
}

/** The peer violated NVMe/TCP (bad PDU, bad sequence); the session was closed. */
export class PeerProtocolError extends DcSessionError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('protocol', message, options);
  }
}

/** The session is closed (by us, by the peer, or after an error); `requested`: closed on request (close/destroy). */
export class SessionClosedError extends DcSessionError {
  readonly requested: boolean;
  constructor(message: string, options: { cause?: unknown; requested?: boolean } = {}) {
    super('closed', message, 'cause' in options ? { cause: options.cause } : {});
    this.requested = options.requested === true;
  }
}

/** In-band authentication (DH-HMAC-CHAP) failed or cannot be done; the session was refused. */
export class AuthenticationError extends DcSessionError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('authentication', message, options);
  }
}
