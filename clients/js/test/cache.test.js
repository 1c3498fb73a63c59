// The key cache (jose's createRemoteJWKSet, as configured here): one fetch for concurrent
// calls, a cooldown on unknown kids, 503 (KeySetUnavailable) when the JWKS cannot be fetched.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { createVerifier, KeySetUnavailable } from '../src/index.js'
import { loadVectors, outcome, startJwksServer, verifierOptions } from './support.js'

const vectors = loadVectors()
let server

before(async () => {
  server = await startJwksServer()
})
after(() => server.close())

test('concurrent calls share one fetch', async () => {
  server.document = vectors.documents.initial
  let release
  server.hold = new Promise((resolve) => {
    release = resolve
  })
  const start = server.hits
  const verifier = createVerifier(verifierOptions(vectors, server))
  const arrived = server.arrived()
  const calls = Array.from({ length: 20 }, () => verifier.verify(vectors.named('valid').token))
  await arrived
  release()
  server.hold = null
  const results = await Promise.all(calls)
  assert.deepEqual(new Set(results.map((c) => c.sub)), new Set([vectors.named('valid').claims.sub]))
  assert.equal(server.hits - start, 1)
})

test('unknown kids refetch at most once per cooldown', async () => {
  server.document = vectors.documents.initial
  const start = server.hits
  const verifier = createVerifier(verifierOptions(vectors, server, { cooldownMs: 60_000 }))
  assert.equal(await outcome(verifier, vectors.named('valid').token), 'valid')
  for (let i = 0; i < 20; i += 1) {
    assert.equal(await outcome(verifier, vectors.named('unknown_kid').token), 'unknown_kid')
  }
  assert.equal(server.hits - start, 1)
})

for (const [name, breakIt] of [
  ['a 500 answer', (s) => { s.status = 500 }],
  ['a body that is not a JWK set', (s) => { s.document = { keys: 'none' } }],
  ['a refused connection', null],
]) {
  test(`${name} is KeySetUnavailable, not a verdict`, async () => {
    server.document = vectors.documents.initial
    server.status = 200
    let options = verifierOptions(vectors, server)
    if (breakIt) breakIt(server)
    else options = { ...options, jwksUrl: 'http://127.0.0.1:9/.auth/jwks' }
    const verifier = createVerifier(options)
    await assert.rejects(verifier.verify(vectors.named('valid').token), KeySetUnavailable)
    server.status = 200
  })
}

test('a JWKS slower than the timeout is KeySetUnavailable', async () => {
  server.document = vectors.documents.initial
  let release
  server.hold = new Promise((resolve) => {
    release = resolve
  })
  const verifier = createVerifier(verifierOptions(vectors, server, { timeoutMs: 300 }))
  await assert.rejects(verifier.verify(vectors.named('valid').token), KeySetUnavailable)
  release()
  server.hold = null
})

test('construction pins issuer and audience and checks the URL', () => {
  assert.throws(() => createVerifier({ issuer: '', audience: 'a' }), /pin/)
  assert.throws(() => createVerifier({ issuer: 'https://i', audience: '' }), /pin/)
  assert.throws(() => createVerifier({ issuer: 'https://i', audience: 'a', jwksUrl: 'file:///etc/passwd' }), /http/)
  assert.equal(createVerifier({ issuer: 'https://app.example.com/', audience: 'a' }).jwksUrl, 'https://app.example.com/.auth/jwks')
})
