-- rumor-scm-1.rockspec: installs the rumor Lua package, the rumor.core C module
-- (the C core compiled in, linked against the system's libuv) and the `rumor` command.
--   luarocks --lua-version=5.4 make --tree T --deps-mode=none rockspec/rumor-scm-1.rockspec
rockspec_format = "3.0"
package = "rumor"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from the working tree with `luarocks make`
}
description = {
  summary = "A gossip engine with a C core on libuv, scripted in Lua",
  detailed = [[
rumor keeps a cluster's shared state in sync by gossip over UDP: every member
publishes keys, reacts to updates, and writes cluster behaviour in Lua.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4",
  "lua-cjson",
}
external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
  LIBSODIUM = { header = "sodium.h", library = "sodium" },
}
build = {
  type = "builtin",
  modules = {
    ["rumor"] = "lua/rumor/init.lua",
    ["rumor.agent"] = "lua/rumor/agent.lua",
    ["rumor.aggregate"] = "lua/rumor/aggregate.lua",
    ["rumor.cli"] = "lua/rumor/cli.lua",
    ["rumor.config"] = "lua/rumor/config.lua",
    ["rumor.consensus"] = "lua/rumor/consensus.lua",
    ["rumor.demo"] = "lua/rumor/demo.lua",
    ["rumor.demo.cluster"] = "lua/rumor/demo/cluster.lua",
    ["rumor.demo.screen"] = "lua/rumor/demo/screen.lua",
    ["rumor.json"] = "lua/rumor/json.lua",
    ["rumor.jsonstate"] = "lua/rumor/jsonstate.lua",
    ["rumor.keyview"] = "lua/rumor/keyview.lua",
    ["rumor.liveset"] = "lua/rumor/liveset.lua",
    ["rumor.luv"] = "lua/rumor/luv.lua",
    ["rumor.notify"] = "lua/rumor/notify.lua",
    ["rumor.process"] = "lua/rumor/process.lua",
    ["rumor.reducers"] = "lua/rumor/reducers.lua",
    ["rumor.testing"] = "lua/rumor/testing.lua",
    ["rumor.validate"] = "lua/rumor/validate.lua",
    ["rumor.explain"] = "lua/rumor/explain.lua",
    ["rumor.prometheus"] = "lua/rumor/prometheus.lua",
    ["rumor.faults"] = "lua/rumor/faults.lua",
    ["rumor.keyring"] = "lua/rumor/keyring.lua",
    ["rumor.sim"] = "lua/rumor/sim.lua",
    ["rumor.core"] = {
      sources = {
        "bindings/lembed.c", "bindings/llines.c", "bindings/lliveness.c", "bindings/lnode.c",
        "bindings/lprocess.c", "bindings/lrumor.c", "bindings/ltimer.c", "bindings/lhooks.c",
        "bindings/lfault.c", "bindings/lkeyring.c", "bindings/lsim.c",
        "core/src/addr.c", "core/src/await.c", "core/src/blob.c", "core/src/delta.c",
        "core/src/error.c", "core/src/frame.c", "core/src/gossip.c", "core/src/io_uv.c",
        "core/src/map.c", "core/src/node.c", "core/src/push.c", "core/src/rng.c",
        "core/src/store.c", "core/src/share.c", "core/src/transfer.c", "core/src/wire.c",
        "core/src/heartbeat.c", "core/src/detector.c", "core/src/liveness.c",
        "core/src/summary.c", "core/src/tree.c", "core/src/rate.c", "core/src/log.c",
        "core/src/fault.c", "core/src/seal.c", "core/src/replay.c", "core/src/guard.c",
        "core/src/keyring.c", "core/src/sim.c", "core/src/budget.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "core/include", "core/src", "$(LIBUV_INCDIR)", "$(LIBSODIUM_INCDIR)" },
      libdirs = { "$(LIBUV_LIBDIR)", "$(LIBSODIUM_LIBDIR)" },
      libraries = { "uv", "sodium" },
    },
  },
  install = {
    bin = { rumor = "lua/bin/rumor" },
  },
}
