-- rumor.cli: the `rumor` command (run, agent, demo, keygen, version, help).
-- main(argv) takes the launcher's `arg` table and returns the exit code.

local M = {}

M.usage = [[
usage: rumor <command> [arguments]

commands:
  run SCRIPT.lua [args]    run a Lua script, then drive the loop until no work is left
  agent --config FILE      run one node; JSON events on stdout, JSON commands on stdin
  demo [--nodes N] [--interval MS] [--plain]
                           start a local cluster of agents and watch it write, lose a
                           node and heal, live
  keygen                   print a new random key for the secret / keyring config fields
  version                  print the version
  help                     print this text
]]

local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil
end

-- Reports a failure of a script or of the loop; returns the exit code.
local function failed(err)
  if is_interrupt(err) then
    io.stderr:write("rumor: interrupted\n")
    return 130
  end
  io.stderr:write("rumor: ", tostring(err), "\n")
  return 1
end

local commands = {}

function commands.run(argv)
  local script = argv[2]
  if not script then
    io.stderr:write("rumor run: missing SCRIPT.lua\n", M.usage)
    return 2
  end
  local chunk, err = loadfile(script)
  if not chunk then
    io.stderr:write("rumor run: ", err, "\n")
    return 1
  end
  -- arg as lua itself would set it: the script at 0, its arguments from 1, and
  -- everything before the script at negative indices.
  local script_arg = { [0] = script }
  local nargs = #argv - 2
  for i = 1, nargs do script_arg[i] = argv[i + 2] end
  script_arg[-1] = argv[1]
  local k = -2
  for i = 0, -100, -1 do
    if argv[i] == nil then break end
    script_arg[k] = argv[i]
    k = k - 1
  end
  _G.arg = script_arg

  local rumor = require("rumor")
  local ok, serr = xpcall(chunk, debug.traceback, table.unpack(script_arg, 1, nargs))
  if not ok then return failed(serr) end
  ok, serr = xpcall(rumor.run, debug.traceback)
  if not ok then return failed(serr) end
  return 0
end

-- Subcommands that are a module's main(args): args without the subcommand.
local function module_command(module)
  return function(argv)
    local rest = table.move(argv, 2, #argv, 1, {})
    local ok, code = xpcall(require(module).main, debug.traceback, rest)
    if not ok then return failed(code) end
    return code
  end
end

commands.agent = module_command("rumor.agent")
commands.demo = module_command("rumor.demo")

function commands.keygen()
  io.stdout:write(require("rumor").keygen(), "\n")
  return 0
end

function commands.version()
  io.stdout:write("rumor ", require("rumor").version, "\n")
  return 0
end

function commands.help()
  io.stdout:write(M.usage)
  return 0
end
commands["--help"] = commands.help
commands["-h"] = commands.help
commands["--version"] = commands.version

function M.main(argv)
  argv = argv or {}
  -- The demo and the harness start agents through the same launcher as ours.
  if argv[0] then
    local ok, process = pcall(require, "rumor.process")
    if ok and not process.bin then process.bin = argv[0] end
  end
  local name = argv[1]
  local cmd = name and commands[name]
  if not cmd then
    if name then
      io.stderr:write("rumor: unknown command '", name, "'\n")
    end
    io.stderr:write(M.usage)
    return 2
  end
  return cmd(argv)
end

return setmetatable(M, { __call = function(_, argv) return M.main(argv) end })
