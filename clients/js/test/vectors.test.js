// Every shared vector (clients/vectors), keys served over real HTTP.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { createVerifier } from '../src/index.js'
import { loadVectors, outcome, startJwksServer, verifierOptions } from './support.js'

const vectors = loadVectors()
let server

before(async () => {
  server = await startJwksServer()
})
after(() => server.close())

test('every vector gives its expected outcome', async () => {
  const results = {}
  const expected = {}
  for (const c of vectors.cases) {
    server.document = vectors.documents[c.jwks]
    const verifier = createVerifier(verifierOptions(vectors, server))
    results[c.name] = await outcome(verifier, c.token)
    expected[c.name] = c.expect
  }
  assert.deepEqual(results, expected)
  assert.ok(Object.keys(results).length >= 20)
})

test('valid vectors return their claims', async () => {
  const valid = vectors.cases.filter((c) => c.expect === 'valid')
  assert.ok(valid.length >= 4)
  for (const c of valid) {
    server.document = vectors.documents[c.jwks]
    const claims = await createVerifier(verifierOptions(vectors, server)).verify(c.token)
    const want = c.claims
    assert.equal(claims.sub, want.sub)
    assert.equal(claims.email, want.email ?? null)
    assert.equal(claims.name, want.name ?? null)
    assert.deepEqual([...claims.groups], want.groups)
    assert.deepEqual([claims.issuedAt, claims.expiresAt], [want.iat, want.exp])
    assert.equal(claims.actor, null)
    assert.deepEqual({ ...claims.raw }, want)
  }
})

test('refusals from the header alone fetch nothing', async () => {
  server.document = vectors.documents.initial
  const hits = server.hits
  const verifier = createVerifier(verifierOptions(vectors, server))
  for (const name of ['alg_none', 'hs256_public_pem', 'hs256_public_jwk', 'rs256_known_kid', 'no_kid', 'not_a_jws']) {
    assert.equal(await outcome(verifier, vectors.named(name).token), vectors.named(name).expect, name)
  }
  assert.equal(server.hits, hits)
})

test('a key rotated in is picked up by one refetch after the cooldown', async () => {
  server.document = vectors.documents.initial
  const start = server.hits
  // A cooldown long enough that the second call below is surely inside it.
  const options = verifierOptions(vectors, server, { cooldownMs: 60_000 })
  const verifier = createVerifier(options)
  assert.equal(await outcome(verifier, vectors.named('valid').token), 'valid')
  server.document = vectors.documents.rotated
  const rotatedIn = vectors.named('rotated_in_after_refetch').token
  assert.equal(await outcome(verifier, rotatedIn), 'unknown_kid') // cooling down: no fetch
  assert.equal(server.hits - start, 1)

  const eager = createVerifier({ ...options, cooldownMs: 0 })
  server.document = vectors.documents.initial
  assert.equal(await outcome(eager, vectors.named('valid').token), 'valid')
  server.document = vectors.documents.rotated
  assert.equal(await outcome(eager, rotatedIn), 'valid')
  assert.equal(server.hits - start, 3)
})
