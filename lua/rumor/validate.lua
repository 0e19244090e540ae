-- rumor.validate: node:validate(prefix, fn), inbound validators. Every entry that
-- arrives from another member is shown to the validators whose prefix its key starts
-- with, before it is merged; the first that refuses it keeps it out. The core counts
-- the refusal (metrics().entries_rejected) and logs it with the reason.

return function(_, I)
  local Node = I.Node

  local Validator = {}
  Validator.__index = Validator

  -- One core validator per node dispatches to the list; none while the list is empty.
  -- The dispatcher holds the list, not the node, so a forgotten node can be collected.
  local function attach(node)
    local list = node._validators
    if #list.items == 0 then
      node._core:set_validator(nil)
      return
    end
    node._core:set_validator(function(member, key, value, map_key, _, seq)
      local items = list.items   -- a snapshot: (un)registering replaces the list
      for i = 1, #items do
        local v = items[i]
        if v.active and key:sub(1, #v.prefix) == v.prefix then
          local ok, reason = v.fn(member, key, value, map_key, seq)
          if not ok then
            if reason ~= nil and type(reason) ~= "string" then reason = tostring(reason) end
            return false, reason or ("refused by the validator of prefix '" .. v.prefix .. "'")
          end
        end
      end
      return true
    end)
  end

  -- Stops this validator; idempotent.
  function Validator:cancel()
    if not self.active then return end
    self.active = false
    local list, items = self._list, {}
    for _, v in ipairs(list.items) do
      if v ~= self then items[#items + 1] = v end
    end
    list.items = items
    local node = list.owner.node
    if node and not node._closed then attach(node) end
  end

  -- fn(member, key, value, map_key, seq) -> ok [, reason] judges every entry from
  -- another member whose key starts with prefix ("" for all keys), before it is merged:
  -- value is nil for a delete, map_key nil for a plain key. A true ok takes the entry
  -- in; false or nil refuses it: this node's view keeps what it had for the key (no
  -- update is delivered), the refusal is counted in metrics().entries_rejected and logged
  -- (level "warn") with reason, and the entry is still passed on, hidden, to members
  -- that sync from this one (they judge for themselves). An
  -- error raised in fn also refuses it, and is reported. The engine's own keys
  -- (heartbeat, left, blocked) are not shown. fn runs in the middle of a merge: it may
  -- read the node but not change it. Returns a handle with :cancel().
  function Node:validate(prefix, fn)
    I.handle_of(self, "validate")
    I.need_string("validate", "prefix", prefix, 2)
    I.need_function("validate", fn, 2)
    local list = self._validators
    if not list then
      list = { items = {}, owner = setmetatable({ node = self }, { __mode = "v" }) }
      self._validators = list
    end
    local v = setmetatable({ prefix = prefix, fn = fn, active = true, _list = list }, Validator)
    local items = { table.unpack(list.items) }
    items[#items + 1] = v
    list.items = items
    attach(self)
    return v
  end
end
