// The Express/Connect-style middleware, mounted on node's own http server (no express).
import assert from 'node:assert/strict'
import { request as httpRequest, createServer } from 'node:http'
import { after, before, test } from 'node:test'

import { assertionMiddleware, createVerifier } from '../src/index.js'
import { loadVectors, startJwksServer, verifierOptions } from './support.js'

const vectors = loadVectors()
const INVALID = { error: 'invalid_assertion' }
let jwks

before(async () => {
  jwks = await startJwksServer()
  jwks.document = vectors.documents.initial
})
after(() => jwks.close())

/** An app the way Express runs one: the middleware, then a handler showing `req.auth`. */
async function startApp(middleware) {
  const refused = []
  const server = createServer((req, res) => {
    middleware(req, res, (err) => {
      if (err) {
        res.statusCode = 500
        res.end()
        return
      }
      const auth = req.auth && { sub: req.auth.sub, groups: [...req.auth.groups] }
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify(auth ?? null))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}/`, server, refused }
}

/** GET with raw header pairs, so that a header can be sent twice. */
function get(url, headers) {
  return new Promise((resolve, reject) => {
    // Raw header pairs: node then adds no Host header of its own.
    const raw = ['Host', new URL(url).host, ...headers.flat()]
    const req = httpRequest(url, { headers: raw }, (res) => {
      let body = ''
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => resolve([res.statusCode, JSON.parse(body)]))
    })
    req.on('error', reject)
    req.end()
  })
}

test('the middleware admits only a verified assertion', async () => {
  const reasons = []
  const verifier = createVerifier(verifierOptions(vectors, jwks))
  const app = await startApp(assertionMiddleware(verifier, { onRefused: (err) => reasons.push(err.reason) }))
  const good = vectors.named('valid')
  const expected = { sub: good.claims.sub, groups: good.claims.groups }
  try {
    assert.deepEqual(await get(app.url, [['X-Auth-Assertion', good.token]]), [200, expected])
    assert.deepEqual(await get(app.url, [['x-auth-assertion', good.token]]), [200, expected])
    assert.deepEqual(await get(app.url, [['X-Auth-Subject', 'spoofed']]), [401, INVALID])
    const twice = [['X-Auth-Assertion', good.token], ['X-Auth-Assertion', good.token]]
    assert.deepEqual(await get(app.url, twice), [401, INVALID])
    for (const name of ['expired', 'wrong_aud', 'wrong_iss', 'alg_none', 'tampered_payload', 'unknown_kid']) {
      assert.deepEqual(await get(app.url, [['X-Auth-Assertion', vectors.named(name).token]]), [401, INVALID], name)
    }
    assert.deepEqual(reasons, ['malformed', 'malformed', 'expired', 'audience', 'issuer', 'algorithm', 'signature', 'unknown_kid'])
  } finally {
    app.server.close()
  }
})

test('optional lets a request without the header through, with no claims', async () => {
  const verifier = createVerifier(verifierOptions(vectors, jwks))
  const app = await startApp(assertionMiddleware(verifier, { optional: true }))
  try {
    assert.deepEqual(await get(app.url, []), [200, null])
    assert.deepEqual(await get(app.url, [['X-Auth-Assertion', 'x.y.z']]), [401, INVALID])
  } finally {
    app.server.close()
  }
})

test('keys that cannot be fetched are 503', async () => {
  const verifier = createVerifier(verifierOptions(vectors, jwks))
  const app = await startApp(assertionMiddleware(verifier))
  jwks.status = 500
  try {
    const answer = await get(app.url, [['X-Auth-Assertion', vectors.named('valid').token]])
    assert.deepEqual(answer, [503, { error: 'jwks_unavailable' }])
  } finally {
    jwks.status = 200
    app.server.close()
  }
})
