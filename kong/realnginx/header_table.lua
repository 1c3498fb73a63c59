-- Header tables as OpenResty gives them, shared by the real-nginx stand-ins (resty/http.lua,
-- kong_pdk.lua) and the busted suite's stubbed PDK (kong/spec/helpers/pdk.lua). Pure Lua.
local lower = string.lower

local M = {}

--- A table whose string keys are looked up case-insensitively (lua-resty-http's res.headers),
--- with the entries of `initial` in it.
function M.case_insensitive(initial)
  local t = setmetatable({}, {
    __index = function(self, k) return rawget(self, lower(k)) end,
    __newindex = function(self, k, v) rawset(self, lower(k), v) end,
  })
  for k, v in pairs(initial or {}) do
    t[k] = v
  end
  return t
end

--- Adds one header line to `headers`: the value, a list of the values once the name repeats
--- (as ngx.req.get_headers and lua-resty-http give them). The list is assigned back, for
--- ngx.header, whose lists are copies.
function M.add(headers, name, value)
  local seen = headers[name]
  if seen == nil then
    headers[name] = value
  elseif type(seen) == "table" then
    seen[#seen + 1] = value
    headers[name] = seen
  else
    headers[name] = { seen, value }
  end
end

return M
