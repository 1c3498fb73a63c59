// bin/verify-assertion.js: claims on stdout for a valid assertion, {"error": reason} otherwise.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'

import { loadVectors, startJwksServer } from './support.js'

const CLI = fileURLToPath(new URL('../bin/verify-assertion.js', import.meta.url))
const vectors = loadVectors()
let jwks

before(async () => {
  jwks = await startJwksServer()
  jwks.document = vectors.documents.initial
})
after(() => jwks.close())

function run(token, audience = vectors.audience) {
  return new Promise((resolve) => {
    const args = [CLI, '--issuer', vectors.issuer, '--audience', audience, '--jwks-url', jwks.url]
    const child = execFile(process.execPath, args, (error, stdout) => {
      resolve([error ? error.code : 0, JSON.parse(stdout)])
    })
    child.stdin.end(token)
  })
}

test('the CLI prints the claims of a valid assertion and the reason of a refused one', async () => {
  const [code, claims] = await run(vectors.named('valid').token)
  assert.equal(code, 0)
  assert.equal(claims.sub, vectors.named('valid').claims.sub)
  assert.deepEqual(await run(vectors.named('valid').token, 'http://other'), [1, { error: 'audience' }])
  assert.deepEqual(await run(vectors.named('alg_none').token), [1, { error: 'algorithm' }])
})
