-- The few calls of lua-resty-http that the auth-sidecar plugin makes (new, set_timeout,
-- request_uri), written for this project on ngx.socket.tcp because Debian has no
-- lua-resty-http. Not lua-resty-http: only what the plugin needs, with its documented results
-- (res.status, res.headers looked up case-insensitively, a list for repeated names, res.body;
-- nil and an error string on failure). HTTP/1.1, Content-Length or chunked bodies, keep-alive.
local header_table = require "kong.realnginx.header_table"

local tcp = ngx.socket.tcp
local lower = string.lower
local concat = table.concat

local M = {}
local Client = {}
Client.__index = Client

function M.new()
  return setmetatable({ timeout = 60000 }, Client)
end

function Client:set_timeout(ms)
  self.timeout = ms
end

--- scheme, host, port, path-and-query of an absolute http(s) URL.
local function parse_url(url)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(.*)$")
  if not scheme then
    return nil, "bad url: " .. url
  end
  if port == "" then
    port = scheme == "https" and 443 or 80
  end
  return scheme, host, tonumber(port), path == "" and "/" or path
end

local function request_text(method, host, port, path, headers)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port }
  for name, value in pairs(headers or {}) do
    lines[#lines + 1] = name .. ": " .. tostring(value)
  end
  lines[#lines + 1] = "Connection: keep-alive"
  return concat(lines, "\r\n") .. "\r\n\r\n"
end

local function read_headers(sock)
  local status_line, err = sock:receive("*l")
  if not status_line then return nil, nil, err end
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then return nil, nil, "bad status line" end
  local headers = header_table.case_insensitive()
  while true do
    local line, rerr = sock:receive("*l")
    if not line then return nil, nil, rerr end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      header_table.add(headers, name, value)
    end
  end
  return status, headers
end

local function read_chunked(sock)
  local parts = {}
  while true do
    local size_line, err = sock:receive("*l")
    if not size_line then return nil, err end
    local size = tonumber(size_line:match("^%x+"), 16)
    if not size then return nil, "bad chunk size" end
    if size == 0 then
      sock:receive("*l")
      return concat(parts)
    end
    parts[#parts + 1] = sock:receive(size)
    sock:receive("*l")
  end
end

local function read_body(sock, method, status, headers)
  if method == "HEAD" or status == 204 or status == 304 then
    return ""
  end
  local length = tonumber(headers["Content-Length"])
  if length then
    return sock:receive(length)
  end
  if lower(headers["Transfer-Encoding"] or "") == "chunked" then
    return read_chunked(sock)
  end
  return sock:receive("*a")
end

function Client:request_uri(url, params)
  local scheme, host, port, path = parse_url(url)
  if not scheme then return nil, host end
  local sock = tcp()
  sock:settimeout(self.timeout)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, err end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, host, params.ssl_verify ~= false)
    if not ok then return nil, err end
  end
  local method = params.method or "GET"
  ok, err = sock:send(request_text(method, host, port, path, params.headers))
  if not ok then return nil, err end
  local status, headers, herr = read_headers(sock)
  if not status then return nil, herr end
  local body, berr = read_body(sock, method, status, headers)
  if not body then return nil, berr end
  if lower(headers["Connection"] or "") == "close" then
    sock:close()
  else
    sock:setkeepalive(params.keepalive_timeout or 60000)
  end
  return { status = status, headers = headers, body = body }
end

return M
