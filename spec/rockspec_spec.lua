-- The rockspec must install every module of the source tree: a file added to
-- lua/rumor/, bindings/ or core/src/ and forgotten there would be missing only
-- for users who install with luarocks.
-- Files under dir (and its subdirectories: lua/rumor/demo/) whose names end in suffix.
local function listing(dir, suffix)
  local files = {}
  local p = assert(io.popen(("find %s -type f | sort"):format(dir)))
  for path in p:lines() do
    if path:sub(-#suffix) == suffix then files[#files + 1] = path end
  end
  p:close()
  return files
end

describe("rockspec/rumor-scm-1.rockspec", function()
  local f = assert(io.open("rockspec/rumor-scm-1.rockspec"))
  local text = f:read("a")
  f:close()
  local spec = {}
  assert(load(text, "rockspec", "t", spec))()

  it("declares the real dependencies", function()
    assert.same({ "lua >= 5.4", "lua-cjson" }, spec.dependencies)
    assert.equal("uv", spec.external_dependencies.LIBUV.library)
  end)

  it("installs every Lua module", function()
    local installed = {}
    for _, src in pairs(spec.build.modules) do
      if type(src) == "string" then installed[src] = true end
    end
    for _, file in ipairs(listing("lua/rumor", ".lua")) do
      assert.is_true(installed[file] == true, file .. " is not in the rockspec")
    end
  end)

  it("compiles every C source of the core and the binding", function()
    local sources = {}
    for _, s in ipairs(spec.build.modules["rumor.core"].sources) do sources[s] = true end
    for _, dir in ipairs({ "bindings", "core/src" }) do
      for _, file in ipairs(listing(dir, ".c")) do
        assert.is_true(sources[file] == true, file .. " is not in the rockspec")
      end
    end
  end)

  it("installs the rumor command", function()
    assert.equal("lua/bin/rumor", spec.build.install.bin.rumor)
  end)
end)
