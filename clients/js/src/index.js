export { createVerifier } from './verifier.js'
export { assertionMiddleware } from './middleware.js'
export { KeySetUnavailable, VerificationError } from './errors.js'

export const HEADER = 'X-Auth-Assertion'
