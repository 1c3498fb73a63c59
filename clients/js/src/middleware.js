// An Express/Connect-style middleware `(req, res, next)`; works on node's plain http server
// too. A verified assertion becomes `req.auth` (the claims); no assertion (unless `optional`),
// a duplicated or a refused one is 401 {"error": "invalid_assertion"}; keys that cannot be
// fetched are 503 {"error": "jwks_unavailable"}. The body never says why: pass `onRefused`
// to log the reason (never log the token).
import { KeySetUnavailable, VerificationError } from './errors.js'

const HEADER = 'x-auth-assertion'

function send(res, status, error) {
  const body = JSON.stringify({ error })
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
}

function tokensOf(req) {
  // headersDistinct keeps repeated headers apart; req.headers would join them with ", ".
  const distinct = req.headersDistinct?.[HEADER]
  if (distinct) return distinct
  const joined = req.headers[HEADER]
  return joined === undefined ? [] : [joined]
}

export function assertionMiddleware(verifier, { optional = false, property = 'auth', onRefused } = {}) {
  return function verifyAssertion(req, res, next) {
    const tokens = tokensOf(req)
    if (tokens.length === 0 && optional) {
      req[property] = null
      next()
      return
    }
    if (tokens.length !== 1) {
      const err = new VerificationError('malformed', tokens.length ? 'duplicated' : 'missing')
      onRefused?.(err, req)
      send(res, 401, 'invalid_assertion')
      return
    }
    verifier.verify(tokens[0]).then(
      (claims) => {
        req[property] = claims
        next()
      },
      (err) => {
        if (err instanceof VerificationError || err instanceof KeySetUnavailable) {
          onRefused?.(err, req)
          if (err instanceof KeySetUnavailable) send(res, 503, 'jwks_unavailable')
          else send(res, 401, 'invalid_assertion')
          return
        }
        next(err)
      },
    )
  }
}
