// The verified claims, typed (CONTRACT "Identity headers sent upstream").
import { VerificationError } from './errors.js'

function optionalString(payload, name) {
  const value = payload[name]
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value === '') {
    throw new VerificationError('claims', `claim ${name} must be a non-empty string`)
  }
  return value
}

function groups(payload) {
  const value = payload.groups ?? []
  if (!Array.isArray(value) || !value.every((group) => typeof group === 'string')) {
    throw new VerificationError('claims', 'claim groups must be a list of strings')
  }
  return Object.freeze([...value])
}

// For a token-exchange call: the `sub` of the outermost `act` (RFC 8693 section 4.1).
function actor(payload) {
  if (payload.act === undefined || payload.act === null) return null
  if (typeof payload.act !== 'object' || Array.isArray(payload.act)) {
    throw new VerificationError('claims', 'claim act must be an object')
  }
  return optionalString(payload.act, 'sub')
}

export function claimsOf(payload) {
  return Object.freeze({
    sub: optionalString(payload, 'sub'),
    email: optionalString(payload, 'email'),
    name: optionalString(payload, 'name'),
    groups: groups(payload),
    issuedAt: payload.iat,
    expiresAt: payload.exp,
    actor: actor(payload),
    raw: Object.freeze({ ...payload }),
  })
}
