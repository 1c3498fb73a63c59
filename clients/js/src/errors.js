// Why an assertion was refused. `reason` uses the same vocabulary as the Python package and
// clients/vectors: malformed, algorithm, unknown_kid, signature, issuer, audience, expired,
// not_yet_valid, lifetime, claims. Messages never hold the token.

export class VerificationError extends Error {
  /** The assertion is not acceptable: answer 401, never trust its claims. */
  constructor(reason, detail, options) {
    super(`${reason}: ${detail}`, options)
    this.name = 'VerificationError'
    this.reason = reason
  }
}

export class KeySetUnavailable extends Error {
  /** The JWKS could not be fetched: answer 503, the assertion may well be good. */
  constructor(detail, options) {
    super(detail, options)
    this.name = 'KeySetUnavailable'
  }
}
