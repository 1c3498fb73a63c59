#!/usr/bin/env node
// auth-sidecar-verify --issuer URL --audience AUD [--jwks-url URL] < token
// Prints the verified claims as JSON (exit 0), or {"error": reason} (exit 1; 2 when the JWKS
// cannot be fetched). For operators checking a deployment, and for the live-sidecar test.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { createVerifier, KeySetUnavailable, VerificationError } from '../src/index.js'

const { values } = parseArgs({
  options: {
    issuer: { type: 'string' },
    audience: { type: 'string' },
    'jwks-url': { type: 'string' },
  },
})
const verifier = createVerifier({
  issuer: values.issuer,
  audience: values.audience,
  jwksUrl: values['jwks-url'],
})
const token = readFileSync(0, 'utf8').trim()
try {
  process.stdout.write(`${JSON.stringify(await verifier.verify(token))}\n`)
} catch (err) {
  if (!(err instanceof VerificationError || err instanceof KeySetUnavailable)) throw err
  const reason = err instanceof VerificationError ? err.reason : 'jwks_unavailable'
  process.stdout.write(`${JSON.stringify({ error: reason })}\n`)
  process.exitCode = err instanceof VerificationError ? 1 : 2
}
