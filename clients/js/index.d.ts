import type { IncomingMessage, ServerResponse } from 'node:http'

export type Reason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_kid'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime'
  | 'claims'

export class VerificationError extends Error {
  readonly reason: Reason
}

export class KeySetUnavailable extends Error {}

export interface Claims {
  readonly sub: string | null
  readonly email: string | null
  readonly name: string | null
  readonly groups: readonly string[]
  readonly issuedAt: number
  readonly expiresAt: number
  /** `sub` of the outermost `act` (RFC 8693 section 4.1), for a token-exchange call. */
  readonly actor: string | null
  readonly raw: Readonly<Record<string, unknown>>
}

export interface VerifierOptions {
  /** The sidecar's `public_url`. */
  issuer: string
  /** The route's `assertion.audience` (by default the upstream URL). */
  audience: string
  /** Default `${issuer}/.auth/jwks`. */
  jwksUrl?: string
  leewaySeconds?: number
  maxLifetimeSeconds?: number
  requiredClaims?: string[]
  timeoutMs?: number
  cooldownMs?: number
  cacheMaxAgeMs?: number
}

export interface Verifier {
  verify(token: string, options?: { currentDate?: Date }): Promise<Claims>
  readonly issuer: string
  readonly audience: string
  readonly jwksUrl: string
}

export function createVerifier(options: VerifierOptions): Verifier

export interface MiddlewareOptions {
  optional?: boolean
  /** Where the claims go on the request; default `auth`. */
  property?: string
  onRefused?: (err: VerificationError | KeySetUnavailable, req: IncomingMessage) => void
}

export function assertionMiddleware(
  verifier: Verifier,
  options?: MiddlewareOptions,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void

export const HEADER: 'X-Auth-Assertion'
