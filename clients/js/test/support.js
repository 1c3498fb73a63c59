// Test support: the shared vectors and a real JWKS server on loopback.
//
// VECTORS_DIR names a directory written by clients/vectors/generate.py (the pytest runner
// passes it); without it the vectors are generated here, into a temporary directory, with
// $PYTHON (default python3, which needs pyjwt and cryptography).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const GENERATOR = fileURLToPath(new URL('../../vectors/generate.py', import.meta.url))

export function loadVectors() {
  let dir = process.env.VECTORS_DIR
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'vectors-'))
    const run = spawnSync(process.env.PYTHON ?? 'python3', [GENERATOR, dir], { encoding: 'utf8' })
    if (run.status !== 0) throw new Error(`generate.py failed: ${run.stderr}`)
  }
  const read = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'))
  const vectors = read('vectors.json')
  vectors.documents = Object.fromEntries(
    Object.entries(vectors.jwks).map(([phase, file]) => [phase, read(file)]),
  )
  vectors.named = (name) => vectors.cases.find((c) => c.name === name)
  return vectors
}

/** Serves `document` at `${url}`; `status` != 200 fails; `hold` (a promise) delays answers;
 * `hits` counts requests; `arrived()` resolves at the next request. */
export async function startJwksServer() {
  const state = { document: null, status: 200, hold: null, hits: 0, waiters: [] }
  const server = createServer(async (req, res) => {
    state.hits += 1
    state.waiters.splice(0).forEach((resolve) => resolve())
    if (state.hold) await state.hold
    const body = JSON.stringify(state.document)
    res.writeHead(state.status, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' })
    res.end(body)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${server.address().port}/.auth/jwks`
  state.arrived = () => new Promise((resolve) => state.waiters.push(resolve))
  state.close = () => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  }
  return state
}

export function verifierOptions(vectors, server, extra = {}) {
  return {
    issuer: vectors.issuer,
    audience: vectors.audience,
    jwksUrl: server.url,
    leewaySeconds: vectors.leeway_s,
    maxLifetimeSeconds: vectors.max_lifetime_s,
    ...extra,
  }
}

export async function outcome(verifier, token) {
  try {
    await verifier.verify(token)
    return 'valid'
  } catch (err) {
    if (err.name === 'VerificationError') return err.reason
    throw err
  }
}
