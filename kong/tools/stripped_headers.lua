-- Prints what the plugin strips, for tests/gateways/test_kong_header_lists.py:
--   lua5.1 kong/tools/stripped_headers.lua < names   (run from the repository root)
-- First the plugin's tables ("exact NAME", "prefix NAME", "twin NAME"), then, for each name
-- read from stdin, "strip NAME" or "keep NAME" as the plugin's own predicate decides.
package.path = "./?.lua;" .. package.path
package.loaded["resty.http"] = {}
_G.kong = {}
local handler = require "kong.plugins.auth-sidecar.handler"

local function sorted_keys(set)
  local keys = {}
  for name in pairs(set) do keys[#keys + 1] = name end
  table.sort(keys)
  return keys
end

local stripped = handler._stripped or { exact = {}, prefixes = {}, forwarding_twins = {} }
for _, name in ipairs(sorted_keys(stripped.exact)) do print("exact " .. name) end
for _, name in ipairs(stripped.prefixes) do print("prefix " .. name) end
for _, name in ipairs(sorted_keys(stripped.forwarding_twins)) do print("twin " .. name) end
for name in io.lines() do
  print((handler._is_identity_header(name) and "strip " or "keep ") .. name)
end
