"""Header names written in CONTRACT "Identity headers sent upstream", restated here once as the
tests' oracle (deliberately not imported from `sidecar.pipeline.headers`, whose lists they
check)."""

# Every identity header the sidecar injects (and answers `/.auth/verify` with).
INJECTED = [
    "X-Auth-Subject",
    "X-Auth-Email",
    "X-Auth-Username",
    "X-Auth-Name",
    "X-Auth-Groups",
    "X-Auth-Assertion",
    "X-Credential-Identifier",
    "X-Auth-Actor",  # only for an exchanged token (CONTRACT "Service to service")
]

# Other systems' identity headers the contract names one by one.
FOREIGN = [
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
    "X-Anonymous-Consumer",
    "X-Userinfo",
    "X-Id-Token",
    "X-Access-Token",
]

# Members of the families the contract names by prefix (`X-Auth-Request-*`, `X-Consumer-*`,
# `X-Authenticated-*`).
FAMILY_MEMBERS = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Access-Token",
    "X-Consumer-ID",
    "X-Consumer-Custom-ID",
    "X-Consumer-Username",
    "X-Consumer-Groups",
    "X-Authenticated-Groups",
    "X-Authenticated-Scope",
    "X-Authenticated-Userid",
]
