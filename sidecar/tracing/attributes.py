"""Span attribute names: OpenTelemetry semantic conventions first, then the sidecar's own."""

from __future__ import annotations

HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
DB_SYSTEM = "db.system.name"
DB_OPERATION = "db.operation.name"

REQUEST_ID = "sidecar.request_id"
PHASE = "sidecar.phase"
ROUTE = "sidecar.route"
POLICY_RULE = "sidecar.policy_rule"
DECISION = "sidecar.decision"
OIDC_OPERATION = "sidecar.oidc.operation"

# HTTP semconv: a method outside the known set is recorded as `_OTHER` (bounded cardinality).
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"}
)


def http_method(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"
