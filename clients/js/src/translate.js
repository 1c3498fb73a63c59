// jose's errors, in the shared refusal vocabulary (see errors.js).
import { errors } from 'jose'

import { KeySetUnavailable, VerificationError } from './errors.js'

const BY_CLASS = [
  [errors.JOSEAlgNotAllowed, 'algorithm', 'alg is not ES256'],
  [errors.JWKSNoMatchingKey, 'unknown_kid', 'no key with this kid in the JWKS'],
  [errors.JWKSMultipleMatchingKeys, 'unknown_kid', 'several keys match this kid'],
  [errors.JWSSignatureVerificationFailed, 'signature', 'signature does not verify'],
  [errors.JWTExpired, 'expired', 'exp is in the past'],
  [errors.JWSInvalid, 'malformed', 'not a compact JWS'],
  [errors.JWTInvalid, 'malformed', 'payload is not a JWT claims set'],
]

const BY_CLAIM = { iss: 'issuer', aud: 'audience', iat: 'not_yet_valid', nbf: 'not_yet_valid' }

function claimFailure(err) {
  // `reason` is "missing", "invalid" (not a number...) or "check_failed" (the value is wrong).
  if (err.reason === 'missing' || err.reason === 'invalid') {
    return new VerificationError('claims', `claim ${err.claim} is ${err.reason}`, { cause: err })
  }
  const reason = BY_CLAIM[err.claim] ?? 'claims'
  return new VerificationError(reason, `claim ${err.claim} check failed`, { cause: err })
}

/** A VerificationError or KeySetUnavailable for a jose error; anything else is returned as is
 * (a programming error must not turn into a quiet 401). */
export function translate(err) {
  if (err instanceof VerificationError || err instanceof KeySetUnavailable) return err
  if (err instanceof errors.JWTClaimValidationFailed) return claimFailure(err)
  for (const [type, reason, detail] of BY_CLASS) {
    if (err instanceof type) return new VerificationError(reason, detail, { cause: err })
  }
  // Timeouts, refused connections (fetch's TypeError), non-200 answers, a body that is not a
  // JWK set: jose raises JWKSTimeout, TypeError, JOSEError or JWKSInvalid.
  if (err instanceof errors.JOSEError || err instanceof TypeError) {
    return new KeySetUnavailable('cannot fetch the JWKS', { cause: err })
  }
  return err
}
