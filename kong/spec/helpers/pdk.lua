-- A stubbed Kong PDK and resty.http, recording what the plugin does. Only what the plugin
-- calls is here; a call to anything else fails the test with "attempt to call a nil value".
local header_table = require "kong.realnginx.header_table"

local M = {}

--- What ngx.req.get_headers(max) gives: `request.lines` ({name, value} in wire order) read up
--- to `max` lines, then "truncated" as a second value; or `request.headers` as they are.
function M.read_header_lines(request, max)
  if not request.lines then
    return request.headers
  end
  local headers = {}
  for i, line in ipairs(request.lines) do
    if i > max then
      return headers, "truncated"
    end
    header_table.add(headers, string.lower(line[1]), line[2])
  end
  return headers
end

--- Installs `kong` and `resty.http`; `request` describes the client request, `sidecar` the
--- verify answer: {status=, headers=, body=} or {err=}. Returns the recorder.
function M.install(request, sidecar)
  local rec = {
    cleared = {}, set = {}, exited = nil, authenticated = nil, verify = nil,
    timeout = nil, added = {}, errors = {},
  }
  _G.kong = {
    request = {
      get_headers = function(max)
        rec.max_headers = max
        return M.read_header_lines(request, max)
      end,
      get_method = function() return request.method or "GET" end,
      get_path_with_query = function() return request.uri or "/" end,
      get_forwarded_host = function() return request.host or "app.example.com" end,
      get_forwarded_scheme = function() return request.scheme or "https" end,
    },
    client = {
      get_forwarded_ip = function() return "203.0.113.7" end,
      authenticate = function(consumer, credential)
        rec.authenticated = { consumer = consumer, credential = credential }
      end,
    },
    service = {
      request = {
        clear_header = function(name) rec.cleared[#rec.cleared + 1] = name end,
        set_header = function(name, value) rec.set[name] = value end,
      },
    },
    response = {
      exit = function(status, body, headers)
        rec.exited = { status = status, body = body, headers = headers or {} }
        return rec.exited
      end,
      add_header = function(name, value) rec.added[#rec.added + 1] = { name, value } end,
    },
    log = {
      err = function(...) rec.errors[#rec.errors + 1] = table.concat({ ... }) end,
    },
    ctx = { plugin = {} },
  }
  _G.ngx = {
    escape_uri = function(s)
      return (string.gsub(s, "[^%w%-%._~]", function(c)
        return string.format("%%%02X", string.byte(c))
      end))
    end,
  }
  package.loaded["resty.http"] = {
    new = function()
      return {
        set_timeout = function(_, ms) rec.timeout = ms end,
        request_uri = function(_, url, params)
          rec.verify = { url = url, params = params }
          if sidecar.err then return nil, sidecar.err end
          return {
            status = sidecar.status,
            headers = header_table.case_insensitive(sidecar.headers),
            body = sidecar.body or "",
          }
        end,
      }
    end,
  }
  package.loaded["kong.plugins.auth-sidecar.handler"] = nil
  return rec
end

return M
