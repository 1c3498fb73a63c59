-- The plugin schema, with Kong's typedefs stubbed to plain field tables.
package.path = "./?.lua;" .. package.path

describe("auth-sidecar schema", function()
  setup(function()
    package.loaded["kong.db.schema.typedefs"] = {
      no_consumer = { type = "foreign" },
      protocols_http = { type = "set", default = { "http", "https" } },
      url = function(opts)
        local field = { type = "string", custom_validator = "url" }
        for k, v in pairs(opts or {}) do field[k] = v end
        return field
      end,
    }
  end)

  it("names the plugin and requires verify_url", function()
    local schema = require "kong.plugins.auth-sidecar.schema"
    assert.equal("auth-sidecar", schema.name)
    local config
    for _, entry in ipairs(schema.fields) do
      if entry.config then config = entry.config end
    end
    assert.equal("record", config.type)
    local fields = {}
    for _, entry in ipairs(config.fields) do
      local name, field = next(entry)
      fields[name] = field
    end
    assert.is_true(fields.verify_url.required)
    assert.equal(2000, fields.timeout_ms.default)
    assert.is_true(fields.ssl_verify.default)
    assert.equal("/.auth/login", fields.login_path.default)
    assert.equal("sidecar_session", fields.cookie_name.default)
    assert.is_false(fields.forward_token.default)
  end)
end)
