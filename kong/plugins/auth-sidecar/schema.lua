-- Configuration of the auth-sidecar forward-auth plugin.
local typedefs = require "kong.db.schema.typedefs"

return {
  name = "auth-sidecar",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          -- The sidecar's decision endpoint, e.g. http://auth-sidecar.auth.svc:8080/.auth/verify
          { verify_url = typedefs.url { required = true } },
          -- Connect, send and read timeout of the verify call; beyond it the answer is 503.
          { timeout_ms = { type = "integer", default = 2000, between = { 1, 60000 } } },
          { keepalive_ms = { type = "integer", default = 60000, between = { 0, 3600000 } } },
          { ssl_verify = { type = "boolean", default = true } },
          -- Browsers (GET/HEAD accepting text/html) without a session are sent here, with
          -- ?rd=<original path>; "" answers them 401 like API callers.
          { login_path = { type = "string", default = "/.auth/login" } },
          -- The sidecar's session.cookie_name: removed from Cookie before the upstream sees it.
          { cookie_name = { type = "string", default = "sidecar_session", len_min = 1 } },
          -- The sidecar's headers.forward_token: the upstream gets the Authorization the
          -- sidecar answers /.auth/verify with; false (and always, the client's own): none.
          { forward_token = { type = "boolean", default = false } },
        },
    } },
  },
}
