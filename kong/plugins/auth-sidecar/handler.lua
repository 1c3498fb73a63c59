-- auth-sidecar forward-auth plugin for Kong (OSS has none): asks the sidecar's
-- GET /.auth/verify about every request and either lets it through with the identity headers
-- or answers with the sidecar's 401 / 403 / 302 (a browser's 401 becomes a 302 to the login
-- page). Fails closed: no answer means 503.
--
-- Priority 1010: after cors (2000) so preflights are answered, before rate-limiting (910)
-- so `limit_by: credential` sees the user set by kong.client.authenticate.
local http = require "resty.http"

local kong = kong
local ipairs = ipairs
local pairs = pairs
local type = type
local lower = string.lower
local gsub = string.gsub
local sub = string.sub
local find = string.find
local gmatch = string.gmatch
local match = string.match
local concat = table.concat

local AuthSidecar = {
  PRIORITY = 1010,
  VERSION = "0.1.0",
}

-- Request header lines beyond this many are refused (431): get_headers(max) stops reading at
-- `max` lines and says "truncated", and a header past the cut would escape the cleanup below
-- (1000 padding lines, then a spoofed X-Auth-Groups).
local MAX_HEADERS = 1000

-- What the sidecar answers with on 200 and Kong copies into the upstream request.
local IDENTITY_HEADERS = {
  "X-Auth-Subject", "X-Auth-Email", "X-Auth-Username", "X-Auth-Name", "X-Auth-Groups",
  "X-Auth-Assertion", "X-Credential-Identifier", "X-Auth-Actor",
}

-- The contract's list of spoofable identity headers (the sidecar's own and other systems'):
-- the same names as SPOOFABLE_HEADERS, SPOOFABLE_PREFIXES and FORWARDING_HEADERS in
-- sidecar/pipeline/headers.py (tests/gateways/test_kong_header_lists.py compares them).
local STRIPPED_EXACT = {
  ["x-auth-subject"] = true, ["x-auth-email"] = true, ["x-auth-username"] = true,
  ["x-auth-name"] = true, ["x-auth-groups"] = true, ["x-auth-assertion"] = true,
  ["x-auth-actor"] = true, ["x-credential-identifier"] = true,
  ["x-forwarded-user"] = true, ["x-forwarded-email"] = true, ["x-forwarded-groups"] = true,
  ["x-forwarded-preferred-username"] = true, ["x-forwarded-access-token"] = true,
  ["x-anonymous-consumer"] = true, ["x-userinfo"] = true, ["x-id-token"] = true,
  ["x-access-token"] = true,
  ["remote-user"] = true, ["remote-groups"] = true, ["remote-email"] = true,
  ["remote-name"] = true,
}
local STRIPPED_PREFIXES = { "x-auth-", "x-consumer-", "x-authenticated-" }
-- Headers only a trusted proxy sets: their `_` twins are never sent by a real proxy, and an
-- upstream reading `_` as `-` (WSGI, PHP, Rack) would believe them.
local FORWARDING_UNDERSCORE_TWINS = {
  ["forwarded"] = true, ["x-forwarded-for"] = true, ["x-forwarded-proto"] = true,
  ["x-forwarded-host"] = true, ["x-forwarded-port"] = true, ["x-forwarded-prefix"] = true,
  ["x-forwarded-uri"] = true, ["x-forwarded-method"] = true, ["x-original-uri"] = true,
  ["x-original-method"] = true, ["x-real-ip"] = true, ["x-request-id"] = true,
}

-- Denials the sidecar decides and the client must see as they are (404: no route of the
-- sidecar's route table matches the forwarded host and URI).
local PASSED_STATUSES = {
  [302] = true, [400] = true, [401] = true, [403] = true, [404] = true, [431] = true,
}
local PASSED_HEADERS = { "Location", "WWW-Authenticate", "Set-Cookie", "Content-Type", "Retry-After" }

--- A header name as compared: lower case, `_` read as `-` (nginx lets both through).
local function canonical(name)
  return (gsub(lower(name), "_", "-"))
end

local function is_identity_header(name)
  local c = canonical(name)
  if STRIPPED_EXACT[c] then
    return true
  end
  for _, prefix in ipairs(STRIPPED_PREFIXES) do
    if sub(c, 1, #prefix) == prefix then
      return true
    end
  end
  return FORWARDING_UNDERSCORE_TWINS[c] == true and find(name, "_", 1, true) ~= nil
end

--- Removes every identity header the client sent.
local function clear_identity_headers(headers)
  for name in pairs(headers) do
    if is_identity_header(name) then
      kong.service.request.clear_header(name)
    end
  end
end

local function joined(value, separator)
  if type(value) == "table" then
    return concat(value, separator)
  end
  return value
end

--- The Cookie header without the sidecar's session cookie, other pairs kept as sent; nil when
--- nothing is left. RFC 6265 section 5.4: pairs separated by ";", names case-sensitive.
local function without_cookie(value, cookie_name)
  if value == nil then
    return nil
  end
  local kept = {}
  for pair in gmatch(value .. ";", "([^;]*);") do
    local name = match(pair, "^%s*([^=]*)")
    if (gsub(name, "%s+$", "")) ~= cookie_name and find(pair, "%S") then
      kept[#kept + 1] = (gsub(pair, "^%s+", ""))
    end
  end
  if #kept == 0 then
    return nil
  end
  return concat(kept, "; ")
end

--- Gives the upstream the request proxy mode would: the session cookie is a bearer credential
--- for the sidecar only and never leaves it; the client's Authorization never passes as is
--- (with forward_token the upstream gets only the token the sidecar answered with).
local function strip_credentials(conf, headers, res)
  local cookie_name = conf.cookie_name or "sidecar_session"
  local cookie = without_cookie(joined(headers["cookie"], "; "), cookie_name)
  if cookie then
    kong.service.request.set_header("Cookie", cookie)
  else
    kong.service.request.clear_header("Cookie")
  end
  local token = conf.forward_token and joined(res.headers["Authorization"], ", ")
  if token and token ~= "" then
    kong.service.request.set_header("Authorization", token)
  else
    kong.service.request.clear_header("Authorization")
  end
end

local function verify_headers(headers)
  return {
    ["X-Forwarded-Method"] = kong.request.get_method(),
    ["X-Forwarded-Uri"] = kong.request.get_path_with_query(),
    ["X-Forwarded-Host"] = kong.request.get_forwarded_host(),
    ["X-Forwarded-Proto"] = kong.request.get_forwarded_scheme(),
    ["X-Forwarded-For"] = kong.client.get_forwarded_ip(),
    ["X-Request-ID"] = joined(headers["x-request-id"], ","),
    ["Accept"] = joined(headers["accept"], ", "),
    ["Cookie"] = joined(headers["cookie"], "; "),
    ["Authorization"] = joined(headers["authorization"], ", "),
  }
end

--- Where a browser without a session goes: /.auth/verify answers 401 to everyone (it cannot
--- know the public URL of the gateway's route), so the plugin sends GET/HEAD requests that
--- accept text/html to the login page, as the sidecar does in proxy mode. Nil: answer 401.
local function browser_login(conf, headers)
  if not conf.login_path or conf.login_path == "" then
    return nil
  end
  local method = kong.request.get_method()
  if method ~= "GET" and method ~= "HEAD" then
    return nil
  end
  local accept = lower(joined(headers["accept"], ",") or "")
  if not find(accept, "text/html", 1, true) then
    return nil
  end
  return conf.login_path .. "?rd=" .. ngx.escape_uri(kong.request.get_path_with_query())
end

local function call_sidecar(conf, headers)
  local client = http.new()
  client:set_timeout(conf.timeout_ms)
  return client:request_uri(conf.verify_url, {
    method = "GET",
    headers = verify_headers(headers),
    ssl_verify = conf.ssl_verify,
    keepalive_timeout = conf.keepalive_ms,
  })
end

local function pick(res_headers, names)
  local picked = {}
  for _, name in ipairs(names) do
    local value = res_headers[name]
    if value ~= nil then
      picked[name] = value
    end
  end
  return picked
end

local function allow(conf, headers, res)
  strip_credentials(conf, headers, res)
  for name, value in pairs(pick(res.headers, IDENTITY_HEADERS)) do
    kong.service.request.set_header(name, joined(value, ","))
  end
  local subject = joined(res.headers["X-Auth-Subject"], ",")
  if subject and subject ~= "" then
    -- No consumer entity: the credential id alone lets rate-limiting key on the user.
    kong.client.authenticate(nil, { id = subject })
  end
  local cookie = res.headers["Set-Cookie"]
  if cookie then
    kong.ctx.plugin.set_cookie = cookie
  end
end

function AuthSidecar:access(conf)
  local headers, truncated = kong.request.get_headers(MAX_HEADERS)
  if truncated then
    return kong.response.exit(431, { error = "header_too_large" })
  end
  clear_identity_headers(headers)

  local res, err = call_sidecar(conf, headers)
  if not res then
    kong.log.err("auth-sidecar verify call failed: ", err)
    return kong.response.exit(503, { error = "auth_unavailable" }, { ["Retry-After"] = "5" })
  end

  if res.status == 200 then
    return allow(conf, headers, res)
  end
  if res.status == 401 then
    local login = browser_login(conf, headers)
    if login then
      return kong.response.exit(302, nil, { Location = login })
    end
  end
  if PASSED_STATUSES[res.status] then
    return kong.response.exit(res.status, res.body, pick(res.headers, PASSED_HEADERS))
  end
  kong.log.err("auth-sidecar verify answered ", res.status)
  local retry = { ["Retry-After"] = res.headers["Retry-After"] or "5" }
  return kong.response.exit(503, { error = "auth_unavailable" }, retry)
end

function AuthSidecar:header_filter(_)
  local cookies = kong.ctx.plugin.set_cookie
  if type(cookies) == "string" then
    cookies = { cookies }
  end
  for _, cookie in ipairs(cookies or {}) do
    kong.response.add_header("Set-Cookie", cookie)
  end
end

-- Exposed for the unit tests.
AuthSidecar._is_identity_header = is_identity_header
AuthSidecar._without_cookie = without_cookie
AuthSidecar._stripped = {
  exact = STRIPPED_EXACT,
  prefixes = STRIPPED_PREFIXES,
  forwarding_twins = FORWARDING_UNDERSCORE_TWINS,
}

return AuthSidecar
