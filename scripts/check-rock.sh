#!/usr/bin/env bash
# check-rock.sh: installs the rock into an empty tree with luarocks, exactly as
# the README says, then checks that `require "rumor"`, `rumor run` and the
# rumor.testing harness (agents started through the installed command) work from
# that tree alone (no source-tree paths).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
src=$(mktemp -d)
trap 'rm -rf "$tree" "$src"' EXIT
# luarocks make compiles in the current directory; build from a copy so no
# stray rumor/core.so is left in the work tree (where ./?.so would find it).
cp -r core bindings lua rockspec "$src"/
(cd "$src" && luarocks --lua-version=5.4 make --tree "$tree" --deps-mode=none rockspec/rumor-scm-1.rockspec) \
  >"$src/make.log" 2>&1 || { cat "$src/make.log"; exit 1; }
eval "$(luarocks --lua-version=5.4 --tree "$tree" path)"
export PATH="$tree/bin:$PATH"
cd "$tree"
lua5.4 -e 'local r = require "rumor"; assert(r.new and r.run, "rumor API missing")'
cat > script.lua <<'LUA'
local rumor = require "rumor"
local a = rumor.new{ id = "a" }
local b
a:start()
b = rumor.new{ id = "b", seeds = { a:address() } }
b:start()
a:set_state("k", "v")
rumor.spawn(function()
  local deadline = rumor.now() + 10000
  while not b:get_state("k").a and rumor.now() < deadline do rumor.sleep(20) end
  print("rock-check: " .. tostring(b:get_state("k").a))
  a:stop(); b:stop()
end)
LUA
out=$(rumor run script.lua)
[ "$out" = "rock-check: v" ] || { echo "check-rock: unexpected output: $out" >&2; exit 1; }
# rumor.testing from the tree alone: agents started through the installed command.
cat > testing.lua <<'LUA'
local testing = require "rumor.testing"
local c <close> = testing.cluster{ nodes = 2, config = { gossip_interval_ms = 50 }, deadline_ms = 20000 }
c:node(1):set("k", "v")
c:on_every(function(n) return n:get("k").n1 == "v" end, "k on both")
assert(c:close())
print("rock-check: testing ok")
LUA
out=$(rumor run testing.lua)
[ "$out" = "rock-check: testing ok" ] || { echo "check-rock: rumor.testing failed: $out" >&2; exit 1; }
echo "check-rock: luarocks install into an empty tree works (require, rumor run, rumor.testing)"
