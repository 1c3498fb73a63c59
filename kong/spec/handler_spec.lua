-- Unit tests of the forward-auth plugin against a stubbed PDK (run: busted kong/spec).
package.path = "./kong/spec/?.lua;./?.lua;" .. package.path
local pdk = require "helpers.pdk"

local CONF = { verify_url = "http://sidecar:8080/.auth/verify", timeout_ms = 1500,
               keepalive_ms = 60000, ssl_verify = true, login_path = "/.auth/login" }

local function run(request, sidecar, conf)
  local rec = pdk.install(request, sidecar)
  local handler = require "kong.plugins.auth-sidecar.handler"
  rec.result = handler:access(conf or CONF)
  handler:header_filter(conf or CONF)
  return rec, handler
end

local function has(list, value)
  for _, v in ipairs(list) do if v == value then return true end end
  return false
end

describe("auth-sidecar plugin", function()
  it("runs after cors and before rate-limiting", function()
    pdk.install({ headers = {} }, { status = 200 })
    local handler = require "kong.plugins.auth-sidecar.handler"
    assert.equal(1010, handler.PRIORITY)
    assert.is_string(handler.VERSION)
  end)

  it("clears every spoofable identity header, with _ read as -", function()
    local spoofed = {
      "x-auth-subject", "x_auth_email", "X-Auth-Groups", "x-auth-assertion",
      "x-credential-identifier", "x_credential_identifier", "x-forwarded-user",
      "x-forwarded-email", "x-forwarded-groups", "x_forwarded_preferred_username",
      "x-auth-request-user", "x-consumer-id", "x_consumer_username", "x-authenticated-userid",
      "x-anonymous-consumer", "x-userinfo", "x-id-token", "x-access-token",
    }
    local headers = { ["accept"] = "*/*", ["x-request-id"] = "abc", ["x-forwarded-for"] = "1.2.3.4" }
    for _, name in ipairs(spoofed) do headers[name] = "evil" end
    local rec = run({ headers = headers }, { status = 401, headers = {} })
    for _, name in ipairs(spoofed) do
      assert.is_true(has(rec.cleared, name), name .. " not cleared")
    end
    assert.equal(#spoofed, #rec.cleared)
    assert.equal(1000, rec.max_headers)
  end)

  it("clears remote-* and the _ twins of forwarding headers, keeps their - spellings", function()
    local headers = {
      ["remote-user"] = "evil", ["Remote_Groups"] = "admins", ["x-forwarded-access-token"] = "t",
      ["x_forwarded_for"] = "10.0.0.1", ["X_Real_IP"] = "10.0.0.1", ["x_request_id"] = "r",
      ["x-forwarded-for"] = "1.2.3.4", ["x-request-id"] = "abc", ["x-real-ip"] = "1.2.3.4",
    }
    local rec = run({ headers = headers }, { status = 401, headers = {} })
    for _, name in ipairs({ "remote-user", "Remote_Groups", "x-forwarded-access-token",
                            "x_forwarded_for", "X_Real_IP", "x_request_id" }) do
      assert.is_true(has(rec.cleared, name), name .. " not cleared")
    end
    assert.equal(6, #rec.cleared)
  end)

  it("asks /.auth/verify with the original request", function()
    local rec = run({
      method = "POST", uri = "/reports/q?x=1", host = "app.example.com", scheme = "https",
      headers = {
        cookie = { "sidecar_session=t1", "other=2" },
        authorization = "Bearer abc.def.ghi",
        accept = "text/html",
        ["x-request-id"] = "rid-1",
      },
    }, { status = 401, headers = {} })
    assert.equal(CONF.verify_url, rec.verify.url)
    assert.equal(1500, rec.timeout)
    local params = rec.verify.params
    assert.equal("GET", params.method)
    assert.is_true(params.ssl_verify)
    local h = params.headers
    assert.equal("POST", h["X-Forwarded-Method"])
    assert.equal("/reports/q?x=1", h["X-Forwarded-Uri"])
    assert.equal("app.example.com", h["X-Forwarded-Host"])
    assert.equal("https", h["X-Forwarded-Proto"])
    assert.equal("sidecar_session=t1; other=2", h["Cookie"])
    assert.equal("Bearer abc.def.ghi", h["Authorization"])
    assert.equal("text/html", h["Accept"])
    assert.equal("rid-1", h["X-Request-ID"])
  end)

  it("on 200 copies the identity headers upstream and authenticates the credential", function()
    local rec = run({ headers = { ["x-auth-subject"] = "evil" } }, {
      status = 200,
      headers = {
        ["x-auth-subject"] = "Cg1zdWI", ["X-Auth-Email"] = "a@example.com",
        ["X-Auth-Username"] = "alice", ["X-Auth-Name"] = "Alice", ["X-Auth-Groups"] = "admins,dev",
        ["X-Auth-Assertion"] = "h.p.s", ["X-Credential-Identifier"] = "Cg1zdWI",
        ["X-Unrelated"] = "no",
      },
    })
    assert.is_nil(rec.exited)
    assert.same({
      ["X-Auth-Subject"] = "Cg1zdWI", ["X-Auth-Email"] = "a@example.com",
      ["X-Auth-Username"] = "alice", ["X-Auth-Name"] = "Alice", ["X-Auth-Groups"] = "admins,dev",
      ["X-Auth-Assertion"] = "h.p.s", ["X-Credential-Identifier"] = "Cg1zdWI",
    }, rec.set)
    assert.same({ consumer = nil, credential = { id = "Cg1zdWI" } }, rec.authenticated)
    assert.same({ "x-auth-subject", "Cookie", "Authorization" }, rec.cleared)
  end)

  it("on 200 without a subject (public path) authenticates nobody", function()
    local rec = run({ headers = {} }, { status = 200, headers = {} })
    assert.is_nil(rec.exited)
    assert.is_nil(rec.authenticated)
    assert.same({}, rec.set)
  end)

  it("passes a Set-Cookie of an allowed request to the client", function()
    local rec = run({ headers = {} }, {
      status = 200, headers = { ["X-Auth-Subject"] = "s", ["Set-Cookie"] = "sidecar_session=n" },
    })
    assert.same({ { "Set-Cookie", "sidecar_session=n" } }, rec.added)
  end)

  it("passes 401 back with WWW-Authenticate and the body", function()
    local body = '{"error": "unauthenticated", "request_id": "r"}'
    local rec = run({ headers = {} }, {
      status = 401, body = body,
      headers = { ["WWW-Authenticate"] = 'Bearer realm="auth-sidecar"',
                  ["Content-Type"] = "application/json", ["X-Auth-Subject"] = "leak" },
    })
    assert.equal(401, rec.exited.status)
    assert.equal(body, rec.exited.body)
    assert.same({ ["WWW-Authenticate"] = 'Bearer realm="auth-sidecar"',
                  ["Content-Type"] = "application/json" }, rec.exited.headers)
    assert.is_nil(rec.authenticated)
    assert.same({}, rec.set)
  end)

  it("passes a browser's 302 to the login with its Location", function()
    local rec = run({ headers = { accept = "text/html" } }, {
      status = 302, headers = { Location = "/.auth/login?rd=%2Fadmin" },
    })
    assert.equal(302, rec.exited.status)
    assert.equal("/.auth/login?rd=%2Fadmin", rec.exited.headers.Location)
  end)

  it("sends a browser's 401 to the login page with the original path", function()
    local browser = { method = "GET", uri = "/reports/q?a=1&b=2",
                      headers = { accept = "text/html,application/xhtml+xml" } }
    local rec = run(browser, { status = 401, headers = { ["WWW-Authenticate"] = "Bearer" } })
    assert.equal(302, rec.exited.status)
    assert.same({ Location = "/.auth/login?rd=%2Freports%2Fq%3Fa%3D1%26b%3D2" },
                rec.exited.headers)
  end)

  it("answers 401 to API callers, to non-GET browsers, and when login_path is empty", function()
    local cases = {
      { { method = "GET", headers = { accept = "application/json" } }, CONF },
      { { method = "POST", headers = { accept = "text/html" } }, CONF },
      { { method = "GET", headers = { accept = "text/html" } },
        { verify_url = CONF.verify_url, timeout_ms = 1, login_path = "" } },
    }
    for _, case in ipairs(cases) do
      local rec = run(case[1], { status = 401, headers = { ["WWW-Authenticate"] = "Bearer" } },
                      case[2])
      assert.equal(401, rec.exited.status)
      assert.equal("Bearer", rec.exited.headers["WWW-Authenticate"])
    end
  end)

  it("passes 403", function()
    local rec = run({ headers = {} }, { status = 403, headers = {} })
    assert.equal(403, rec.exited.status)
    assert.same({}, rec.set)
  end)

  it("passes the route table's 404 (no route for the forwarded host and URI)", function()
    local rec = run({ headers = {} }, {
      status = 404, headers = { ["Content-Type"] = "application/json" },
      body = '{"error":"not_found"}',
    })
    assert.equal(404, rec.exited.status)
    assert.same({}, rec.set)
    assert.is_nil(rec.authenticated)
  end)

  it("fails closed with 503 when the sidecar cannot be reached or times out", function()
    for _, err in ipairs({ "timeout", "connection refused" }) do
      local rec = run({ headers = {} }, { err = err })
      assert.equal(503, rec.exited.status)
      assert.equal("5", rec.exited.headers["Retry-After"])
      assert.same({ error = "auth_unavailable" }, rec.exited.body)
      assert.is_nil(rec.exited.body[err])
      assert.equal(1, #rec.errors)
    end
  end)

  it("turns an unexpected sidecar status into 503, never a pass", function()
    for _, status in ipairs({ 500, 502, 204, 503 }) do
      local rec = run({ headers = {} }, {
        status = status, headers = { ["X-Auth-Subject"] = "s", ["Retry-After"] = "2" },
      })
      assert.equal(503, rec.exited.status, "status " .. status)
      assert.equal("2", rec.exited.headers["Retry-After"])
      assert.same({}, rec.set)
      assert.is_nil(rec.authenticated)
    end
  end)

  it("refuses a request whose headers get_headers truncated, without asking the sidecar", function()
    -- 1000 padding lines of one name (one table entry), then the spoofed header past the cut.
    local lines = {}
    for i = 1, 1000 do lines[i] = { "X-Pad", "v" .. i } end
    lines[#lines + 1] = { "X-Auth-Groups", "admins" }
    local rec = run({ lines = lines }, { status = 200, headers = { ["X-Auth-Subject"] = "s" } })
    assert.equal(1000, rec.max_headers)
    assert.equal(431, rec.exited.status)
    assert.is_nil(rec.verify)
    assert.same({}, rec.set)
    assert.is_nil(rec.authenticated)
  end)

  it("clears a spoofed header that is the 1000th line, the last one read", function()
    local lines = {}
    for i = 1, 999 do lines[i] = { "X-Pad", "v" .. i } end
    lines[#lines + 1] = { "X-Auth-Groups", "admins" }
    local rec = run({ lines = lines }, { status = 200, headers = { ["X-Auth-Subject"] = "s" } })
    assert.is_nil(rec.exited)
    assert.is_true(has(rec.cleared, "x-auth-groups"))
    assert.is_nil(rec.set["X-Auth-Groups"])
  end)
end)

describe("auth-sidecar plugin, the upstream's credentials", function()
  local ALLOW = { status = 200, headers = { ["X-Auth-Subject"] = "s" } }

  it("removes the session cookie from Cookie and keeps the other cookies", function()
    local cases = {
      { "theme=dark; sidecar_session=T; lang=en", "theme=dark; lang=en" },
      { "sidecar_session=T; theme=dark", "theme=dark" },
      { "theme=dark;sidecar_session=T", "theme=dark" },
      { { "theme=dark", "sidecar_session=T" }, "theme=dark" },
      { "sidecar_session=A; x=1; sidecar_session=B", "x=1" },
      { "sidecar_session_login=L; Sidecar_Session=C; xsidecar_session=D",
        "sidecar_session_login=L; Sidecar_Session=C; xsidecar_session=D" },
    }
    for _, case in ipairs(cases) do
      local rec = run({ headers = { cookie = case[1] } }, ALLOW)
      assert.is_nil(rec.exited)
      assert.equal(case[2], rec.set["Cookie"])
      assert.is_false(has(rec.cleared, "Cookie"))
    end
  end)

  it("clears Cookie when the session cookie was the only one", function()
    local rec = run({ headers = { cookie = " sidecar_session=T " } }, ALLOW)
    assert.is_true(has(rec.cleared, "Cookie"))
    assert.is_nil(rec.set["Cookie"])
  end)

  it("removes the cookie named by cookie_name", function()
    local conf = {}
    for k, v in pairs(CONF) do conf[k] = v end
    conf.cookie_name = "__Host-app"
    local rec = run({ headers = { cookie = "__Host-app=T; sidecar_session=x" } }, ALLOW, conf)
    assert.equal("sidecar_session=x", rec.set["Cookie"])
  end)

  it("removes the client's Authorization", function()
    local rec = run({ headers = { authorization = "Bearer abc.def.ghi" } }, ALLOW)
    assert.is_true(has(rec.cleared, "Authorization"))
    assert.is_nil(rec.set["Authorization"])
  end)

  it("with forward_token passes only the token the sidecar answered with", function()
    local conf = {}
    for k, v in pairs(CONF) do conf[k] = v end
    conf.forward_token = true
    local verified = { status = 200, headers = { ["X-Auth-Subject"] = "s",
                                                 Authorization = "Bearer verified" } }
    local rec = run({ headers = { authorization = "Bearer client" } }, verified, conf)
    assert.equal("Bearer verified", rec.set["Authorization"])
    rec = run({ headers = { authorization = "Bearer client" } }, ALLOW, conf)
    assert.is_true(has(rec.cleared, "Authorization"))
    assert.is_nil(rec.set["Authorization"])
  end)

  it("never copies the sidecar's Authorization without forward_token", function()
    local verified = { status = 200, headers = { ["X-Auth-Subject"] = "s",
                                                 Authorization = "Bearer verified" } }
    local rec = run({ headers = {} }, verified)
    assert.is_nil(rec.set["Authorization"])
  end)
end)
