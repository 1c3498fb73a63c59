"""What makes each comparison unfair, either way: printed after the tables."""

UNFAIR = """\
Differences that make the comparisons unfair, either way:
- checks: the sidecar checks a token's signature, `iss`, `aud`, `exp`, `nbf`, `iat` and the
  algorithm; oauth2-proxy (go-oidc) and Envoy jwt_authn check signature, `iss`, `aud`, `exp`
  (Envoy also `nbf`); mod_auth_openidc's oauth20 check ignores `aud` and `iss`.
- caches: the sidecar keeps verified tokens (one RSA check per token), so its bearer row is a
  cache hit; Envoy's `/cached/` row too (`jwt_cache_config`); oauth2-proxy, Envoy without the
  cache and mod_auth_openidc verify the RSA signature on every request.
- sessions: the sidecar keeps a sealed record in Redis and a memory copy for `session.cache_s`
  (one MGET and an AES-GCM unseal every few seconds); oauth2-proxy reads its Redis session
  (GET, AES decrypt) on every request; mod_auth_openidc does two Redis GETs per request
  (session, provider metadata). Envoy keeps no sessions at all (no session row).
- forwards: the sidecar strips the client's `Authorization` and its own cookies, strips every
  spoofable identity header, adds X-Auth-* identity headers, X-Forwarded-*, X-Request-ID and
  a signed ES256 assertion (cached for a quarter of its lifetime); oauth2-proxy forwards its
  session cookie and the `Authorization` header, adds X-Auth-Subject (configured here) and
  X-Forwarded-*; Envoy removes `Authorization` (`forward: false`) and adds X-Auth-Subject and
  X-Forwarded-Proto, X-Request-Id; mod_auth_openidc forwards `Authorization` and cookies and
  adds OIDC_CLAIM_* headers.
- processes: Envoy runs one worker (`--concurrency 1`), nginx one worker, Apache one server
  process with 64 threads, oauth2-proxy its Go runtime on both cores (GOMAXPROCS 2), the
  sidecar one Python process.
- logs: every server writes one access line per request (the sidecar a JSON line, the others
  plain text)."""
