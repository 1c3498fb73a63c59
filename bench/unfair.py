"""What makes each comparison unfair, either way: printed after the tables. The forwarding
facts were checked with a header-echoing upstream (see docs/performance.md)."""

UNFAIR = """\
Differences that make the comparisons unfair, either way:
- checks: the sidecar checks a token's signature, `iss`, `aud`, `exp`, `nbf`, `iat` and the
  algorithm; oauth2-proxy (go-oidc) and Envoy jwt_authn check signature, `iss`, `aud` and
  `exp`; mod_auth_openidc's oauth20 check ignores `aud` and `iss`.
- caches: the sidecar keeps verified tokens (one RSA check per token), so its bearer row is a
  cache hit, as is Envoy's `/cached/` row (`jwt_cache_config`); oauth2-proxy, Envoy without
  the cache and mod_auth_openidc verify the RSA signature on every request.
- sessions: the sidecar keeps a sealed record in Redis and a memory copy for `session.cache_s`
  (one MGET and an AES-GCM unseal every few seconds); oauth2-proxy reads its Redis session
  (GET, decrypt) on every request; mod_auth_openidc does two Redis GETs per request (session,
  provider metadata). Envoy keeps no sessions at all (no session row).
- forwards: the sidecar strips the client's `Authorization`, its own cookies and every
  spoofable identity header, and adds X-Auth-* identity headers, X-Forwarded-*, X-Request-ID
  and a signed ES256 assertion (cached for a quarter of its lifetime). oauth2-proxy forwards
  `Authorization`, its session cookie and other identity headers the client sent (only the
  configured X-Auth-Subject is replaced). Envoy removes `Authorization` (`forward: false`),
  replaces X-Auth-Subject and adds X-Forwarded-Proto and X-Request-Id; other client headers
  pass. mod_auth_openidc forwards `Authorization` and cookies and adds OIDC_CLAIM_* headers.
- upstream connections: oauth2-proxy uses Go's default transport (at most 2 idle keep-alive
  connections per upstream, not configurable), so under 32 concurrent clients it opens many
  upstream connections; the others keep a pool (the sidecar, nginx `keepalive 64`, Envoy,
  mod_proxy).
- processes: Envoy runs one worker (`--concurrency 1`), nginx one worker, Apache one server
  process with 64 threads, oauth2-proxy the Go runtime on both cores, the sidecar one
  Python process.
- logs: every server writes one access line per request (the sidecar a JSON line, the
  others plain text)."""
