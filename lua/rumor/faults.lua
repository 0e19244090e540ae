-- rumor.faults: node:set_fault{...} and node:clear_faults(), fault injection at the
-- transport (rumor_node_set_fault in rumor.h). For tests and demos: a node loses, delays
-- or refuses the traffic it exchanges with one peer (or with every peer), decided at
-- this node, both directions, so partitions and lossy links can be staged without root.

-- Options of set_fault and the Lua type each must have.
local OPTIONS = { peer = "string", loss = "number", delay_ms = "number", cut = "boolean" }
-- rumor.h's RUMOR_FAULT_MAX_DELAY_MS: a minute; longer is a cut.
local MAX_DELAY_MS = 60000

return function(_, I)
  local Node = I.Node

  local function bad(option, reason)
    error("rumor: set_fault: option '" .. option .. "' " .. reason, 3)
  end

  -- opts = { peer = "host:port" (optional: the default for every peer without a
  -- setting of its own), loss = 0..1 (default 0), delay_ms = 0..60000 (default 0),
  -- cut = boolean (default false) }. Replaces the peer's previous setting; all three
  -- at their defaults remove it. Returns true.
  function Node:set_fault(opts)
    local n = I.handle_of(self, "set_fault")
    if type(opts) ~= "table" then
      error("rumor: set_fault: argument 'opts' must be a table, got " .. type(opts), 2)
    end
    for k, v in pairs(opts) do
      local want = OPTIONS[k]
      if not want then
        error("rumor: set_fault: unknown option '" .. tostring(k) .. "'", 2)
      end
      if type(v) ~= want then
        bad(k, ("must be a %s, got %s"):format(want, type(v)))
      end
    end
    local loss, delay = opts.loss or 0, opts.delay_ms or 0
    if loss ~= loss or loss < 0 or loss > 1 then
      bad("loss", "must be between 0 and 1, got " .. tostring(loss))
    end
    if math.type(delay) ~= "integer" and not (delay == math.floor(delay)) then
      bad("delay_ms", "must be an integer, got " .. tostring(delay))
    end
    if delay < 0 or delay > MAX_DELAY_MS then
      bad("delay_ms", ("must be between 0 and %d, got %s"):format(MAX_DELAY_MS, tostring(delay)))
    end
    if opts.peer ~= nil then
      local host, reason = I.config.parse_address(opts.peer)
      if not host then bad("peer", "is not an address: " .. reason) end
    end
    local ok, err = n:set_fault(opts.peer, loss, math.tointeger(delay), opts.cut == true)
    if not ok then
      if tostring(err):find("EADDR", 1, true) then
        bad("peer", "\"" .. opts.peer .. "\" is not an address this host can resolve")
      end
      error("rumor: set_fault: " .. tostring(err), 2)
    end
    return true
  end

  -- Removes every fault, the default included. Datagrams a delay still holds leave at
  -- their time. Returns true.
  function Node:clear_faults()
    local n = I.handle_of(self, "clear_faults")
    n:clear_faults()
    return true
  end
end
