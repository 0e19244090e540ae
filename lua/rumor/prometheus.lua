-- rumor.prometheus: rumor.prometheus(node_or_nodes) renders node:metrics() in the
-- Prometheus text exposition format (version 0.0.4), one sample per counter and node,
-- labelled with the node's id, so a scrape handler is a one-liner.

return function(rumor, I)
  -- What each family means, for # HELP; counters not listed get a generic line.
  local HELP = {
    by_kind = "Datagrams and bytes by message kind and direction.",
    members = "Members this node knows, by status.",
    callback_errors = "Errors raised in this node's Lua callbacks.",
  }

  local function label_value(s)
    return (tostring(s):gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"'))
  end

  -- family name -> { type, help, samples = { "name{labels} value", ... } }, in order.
  local function add(families, order, name, kind, help, labels, value)
    local f = families[name]
    if not f then
      f = { kind = kind, help = help, samples = {} }
      families[name] = f
      order[#order + 1] = name
    end
    local parts = {}
    for _, kv in ipairs(labels) do
      parts[#parts + 1] = kv[1] .. '="' .. label_value(kv[2]) .. '"'
    end
    f.samples[#f.samples + 1] = ("%s{%s} %s"):format(name, table.concat(parts, ","),
      math.type(value) == "integer" and ("%d"):format(value) or tostring(value))
  end

  local function collect(families, order, node)
    local m = node:metrics()
    local id = { "node", node:id() }
    local names = {}
    for k, v in pairs(m) do
      if math.type(v) == "integer" then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do
      add(families, order, "rumor_" .. k .. "_total", "counter",
        HELP[k] or ("rumor metric " .. k .. " since the node was created."), { id }, m[k])
    end
    local kinds = {}
    for kind in pairs(m.by_kind or {}) do kinds[#kinds + 1] = kind end
    table.sort(kinds)
    for _, kind in ipairs(kinds) do
      local km = m.by_kind[kind]
      for _, dir in ipairs{ "sent", "received" } do
        local labels = { id, { "kind", kind }, { "direction", dir } }
        add(families, order, "rumor_kind_datagrams_total", "counter", HELP.by_kind, labels,
          km["datagrams_" .. dir])
        add(families, order, "rumor_kind_bytes_total", "counter", HELP.by_kind, labels,
          km["bytes_" .. dir])
      end
    end
    -- Members by status go up and down: a gauge, not a counter.
    for _, status in ipairs{ "alive", "blocked", "left", "removed" } do
      add(families, order, "rumor_members", "gauge", HELP.members,
        { id, { "status", status } }, m.members and m.members[status] or 0)
    end
  end

  -- Text exposition of one node's metrics, or of several nodes' (an array), for a
  -- /metrics endpoint. Counters end in _total; rumor_members is a gauge by status.
  function rumor.prometheus(nodes)
    if getmetatable(nodes) == I.Node then nodes = { nodes } end
    if type(nodes) ~= "table" then
      error("rumor.prometheus: argument 'nodes' must be a node or an array of nodes, got "
        .. type(nodes), 2)
    end
    local families, order = {}, {}
    for i, node in ipairs(nodes) do
      if getmetatable(node) ~= I.Node then
        error(("rumor.prometheus: entry %d is not a node (%s)"):format(i, type(node)), 2)
      end
      collect(families, order, node)
    end
    local out = {}
    for _, name in ipairs(order) do
      local f = families[name]
      out[#out + 1] = "# HELP " .. name .. " " .. f.help
      out[#out + 1] = "# TYPE " .. name .. " " .. f.kind
      for _, line in ipairs(f.samples) do out[#out + 1] = line end
    end
    return table.concat(out, "\n") .. "\n"
  end
end
