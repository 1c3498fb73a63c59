-- Runs the shipped auth-sidecar plugin in nginx's phases, as Kong would: the configuration
-- gets the defaults of the shipped schema.lua, access runs in access_by_lua, header_filter in
-- header_filter_by_lua. For the tests, the credential the plugin authenticated is passed to
-- the upstream as X-Kong-Test-Credential (Kong keeps it in ngx.ctx for other plugins).
package.loaded["kong.db.schema.typedefs"] = {
  no_consumer = {}, protocols_http = {}, url = function(field) return field end,
}
local pdk = require "kong_pdk"
pdk.install()
local handler = require "kong.plugins.auth-sidecar.handler"
local schema = require "kong.plugins.auth-sidecar.schema"

local M = {}

--- `conf` with the schema's defaults for the fields it leaves out.
function M.configure(conf)
  for _, field in ipairs(schema.fields) do
    if field.config then
      for _, entry in ipairs(field.config.fields) do
        local name, spec = next(entry)
        if conf[name] == nil and spec.default ~= nil then
          conf[name] = spec.default
        end
      end
    end
  end
  M.conf = conf
end

function M.access()
  handler:access(M.conf)
  local credential = ngx.ctx.authenticated_credential
  if credential then
    ngx.req.set_header("X-Kong-Test-Credential", credential.id)
  end
end

function M.header_filter()
  handler:header_filter(M.conf)
end

return M
