"""OpenTelemetry traces (CONTRACT "Tracing", `tracing.enabled`), off by default.

Nothing here imports OpenTelemetry until `wiring.instrument` runs, so the sidecar installs and
runs without the `tracing` extra. When enabled, one trace per request:

- SERVER `{method} {route}`: continues a W3C `traceparent` only from a trusted proxy;
  `http.request.method`, `url.path` (normalized, never the query), `url.scheme`, `http.route`,
  `http.response.status_code`, `error.type`, `sidecar.request_id`, `sidecar.phase` (the
  pipeline step that decided), `sidecar.route`, `sidecar.policy_rule`, `sidecar.decision`;
- CLIENT `session_store {op}`: `db.system.name`, `db.operation.name`;
- CLIENT `oidc {discovery|jwks|code exchange|refresh|token|request}`: `http.request.method`,
  `server.address`, `server.port`, `url.path`, `http.response.status_code`,
  `sidecar.oidc.operation`;
- CLIENT `upstream {method}`: its context goes upstream in `traceparent`/`tracestate`;
  `http.request.method`, `server.address`, `server.port`, `url.path`,
  `http.response.status_code`, `error.type`.

Never a token, cookie, ticket, code, secret, store key or query string in any attribute, and
no exception events (their messages and stack traces are not ours to vouch for).
"""
