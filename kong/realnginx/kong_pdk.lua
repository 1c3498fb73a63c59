-- A small `kong` global for running kong/plugins/auth-sidecar/handler.lua in a plain nginx with
-- lua-nginx-module (tests/kong_nginx/). Written for this project from Kong's PDK documentation,
-- not taken from Kong: only the functions the plugin calls, with the documented semantics,
-- for a gateway that trusts no X-Forwarded-* of its clients (Kong's default trusted_ips).
local cjson = require "cjson.safe"
local header_table = require "kong.realnginx.header_table"

local ngx = ngx
local type = type

local DEFAULT_MAX_HEADERS = 100 -- kong.request.get_headers() without an argument
local MAX_HEADERS_LIMIT = 1000

local request = {}

--- Kong: a table of the request headers (lower-case names, a list for repeated names), at
--- most `max_headers` lines (default 100, 1..1000), and "truncated" as a second value when the
--- request had more.
function request.get_headers(max_headers)
  if max_headers == nil then
    return ngx.req.get_headers(DEFAULT_MAX_HEADERS)
  end
  if type(max_headers) ~= "number" or max_headers < 1 or max_headers > MAX_HEADERS_LIMIT then
    error("max_headers must be a number from 1 to " .. MAX_HEADERS_LIMIT, 2)
  end
  return ngx.req.get_headers(max_headers)
end

function request.get_method()
  return ngx.req.get_method()
end

--- Kong: the path and query as the client sent them, e.g. /v1/movies?movie=foo.
function request.get_path_with_query()
  return ngx.var.request_uri
end

--- Kong: the host of the request, lower case; X-Forwarded-Host only from trusted_ips (none).
function request.get_forwarded_host()
  return ngx.var.host
end

function request.get_forwarded_scheme()
  return ngx.var.scheme
end

local client = {}

--- Kong: the client's address; X-Forwarded-For only from trusted_ips (none here).
function client.get_forwarded_ip()
  return ngx.var.remote_addr
end

--- Kong: sets the authenticated consumer and/or credential of the request (ngx.ctx).
function client.authenticate(consumer, credential)
  if consumer == nil and credential == nil then
    error("consumer or credential required", 2)
  end
  ngx.ctx.authenticated_consumer = consumer
  ngx.ctx.authenticated_credential = credential
end

local service_request = {}

function service_request.set_header(name, value)
  ngx.req.set_header(name, value)
end

function service_request.clear_header(name)
  ngx.req.clear_header(name)
end

local response = {}

--- Kong: ends the request with `status`; a table body is sent as JSON, a string as is.
function response.exit(status, body, headers)
  ngx.status = status
  for name, value in pairs(headers or {}) do
    ngx.header[name] = value
  end
  if type(body) == "table" then
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    body = cjson.encode(body)
  end
  if body ~= nil and body ~= "" then
    ngx.print(body)
  end
  return ngx.exit(status)
end

--- Kong: adds a response header, keeping those of the same name.
function response.add_header(name, value)
  header_table.add(ngx.header, name, value)
end

local log = {
  err = function(...) ngx.log(ngx.ERR, ...) end,
}

--- kong.ctx.plugin: a table per request (and per plugin; one plugin here).
local ctx = setmetatable({}, {
  __index = function(_, key)
    if key ~= "plugin" then return nil end
    local per_request = ngx.ctx.kong_plugin_ctx
    if per_request == nil then
      per_request = {}
      ngx.ctx.kong_plugin_ctx = per_request
    end
    return per_request
  end,
})

local M = {}

function M.install()
  _G.kong = {
    request = request,
    client = client,
    service = { request = service_request },
    response = response,
    log = log,
    ctx = ctx,
  }
end

return M
