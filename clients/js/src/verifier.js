// createVerifier(): the one object an upstream makes, with the issuer and audience pinned.
//
// The checks, in order:
// 1. readHeader: a compact JWS (RFC 7515 section 7.1) with `alg` exactly ES256 and a `kid`;
//    `alg: none` and HS256 "keyed with the public key" (RFC 8725 section 2.1) stop here,
//    before any key is fetched; `crit` is refused (we understand no extension, 4.1.11).
// 2. jose's jwtVerify: the key named by `kid` from the sidecar's JWKS (createRemoteJWKSet:
//    cached, at most one refetch per cooldown on an unknown kid, shared by concurrent calls,
//    a timeout), the signature, then `iss` and `aud` against the values the caller pinned --
//    never values read from the token -- and `exp`/`iat`/`nbf` with a clock tolerance.
// 3. checkLifetime: `exp - iat` at most `maxLifetimeSeconds`, so a stolen key or a
//    misconfigured sidecar cannot mint assertions valid for days.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'

import { claimsOf } from './claims.js'
import { VerificationError } from './errors.js'
import { translate } from './translate.js'

const ALGORITHM = 'ES256'
const MAX_TOKEN_LENGTH = 32 * 1024

function readHeader(token) {
  if (typeof token !== 'string' || token === '') throw new VerificationError('malformed', 'no assertion')
  if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) {
    throw new VerificationError('malformed', 'not a compact JWS')
  }
  let header
  try {
    header = decodeProtectedHeader(token)
  } catch (err) {
    throw new VerificationError('malformed', 'unreadable JOSE header', { cause: err })
  }
  if (header.alg !== ALGORITHM) throw new VerificationError('algorithm', 'alg is not ES256')
  if ('crit' in header) throw new VerificationError('malformed', 'crit header parameters are not supported')
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new VerificationError('malformed', 'no kid in the header')
  }
}

function checkLifetime(payload, maxLifetimeSeconds) {
  const { iat, exp } = payload
  if (!Number.isInteger(iat) || !Number.isInteger(exp)) {
    throw new VerificationError('claims', 'iat and exp must be integer NumericDates')
  }
  if (exp <= iat) throw new VerificationError('claims', 'exp is not after iat')
  if (exp - iat > maxLifetimeSeconds) {
    throw new VerificationError('lifetime', `lifetime over ${maxLifetimeSeconds} s`)
  }
}

function jwksUrlFor(issuer, jwksUrl) {
  const url = new URL(jwksUrl ?? `${issuer.replace(/\/+$/, '')}/.auth/jwks`)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`jwksUrl must be an http(s) URL, not ${url.href}`)
  }
  return url
}

/**
 * @param {object} options
 * @param {string} options.issuer the sidecar's `public_url`
 * @param {string} options.audience its `assertion.audience` (by default the upstream URL)
 * @param {string} [options.jwksUrl] default `${issuer}/.auth/jwks`
 */
export function createVerifier({
  issuer,
  audience,
  jwksUrl,
  leewaySeconds = 30,
  maxLifetimeSeconds = 300,
  requiredClaims = ['sub'],
  timeoutMs = 5000,
  cooldownMs = 10000,
  cacheMaxAgeMs = 300000,
} = {}) {
  if (typeof issuer !== 'string' || !issuer || typeof audience !== 'string' || !audience) {
    throw new TypeError('issuer and audience are required: pin them, never read the token')
  }
  const url = jwksUrlFor(issuer, jwksUrl)
  const keySet = createRemoteJWKSet(url, {
    timeoutDuration: timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: cacheMaxAgeMs,
  })
  const options = {
    algorithms: [ALGORITHM],
    issuer,
    audience,
    clockTolerance: leewaySeconds,
    maxTokenAge: maxLifetimeSeconds,
    requiredClaims: ['iss', 'aud', 'iat', 'exp', ...requiredClaims],
  }

  /** The claims of a valid assertion; throws VerificationError (401) or KeySetUnavailable (503). */
  async function verify(token, { currentDate } = {}) {
    readHeader(token)
    let payload
    try {
      ;({ payload } = await jwtVerify(token, keySet, { ...options, currentDate }))
    } catch (err) {
      throw translate(err)
    }
    checkLifetime(payload, maxLifetimeSeconds)
    return claimsOf(payload)
  }

  return Object.freeze({ verify, issuer, audience, jwksUrl: url.href, keySet })
}
