-- rumor.keyring: encryption keys at run time. rumor.keygen() makes a key; a node
-- created with `secret` or `keyring` rotates its keys live with install_key, use_key
-- and remove_key (rumor.h's "Keyring" section), and node:keyring() shows each key's
-- fingerprint and how many messages it opened, which tells when an old key is unused.
--
-- Rotation across a cluster, without dropping it:
--   1. every node: install_key(new)   -- all open both keys
--   2. every node: use_key(new)       -- all seal with the new one
--   3. every node: remove_key(old)    -- once keyring() shows it opens nothing more

return function(rumor, I)
  local Node = I.Node
  local core = I.core

  -- For specs that forge and replay traffic: seal(key, msg, wall_ms, counter [, salt])
  -- is the envelope a node with that key, salt and counter would send (seal.h).
  I.seal = core.seal

  -- A new random key, base64 (44 characters).
  function rumor.keygen()
    return core.keygen()
  end

  local function key_call(self, method, key, why)
    local n = I.handle_of(self, method)
    local problem = I.config.key_problem(key)
    if problem then
      error("rumor: " .. method .. ": argument 'key' " .. problem, 3)
    end
    local ok, err = n[method](n, key)
    if ok then return true end
    local code = tostring(err)
    if code:find("ESTATE", 1, true) then
      error("rumor: " .. method .. ": this node was created without a keyring "
        .. "(give it `secret` or `keyring` in its config)", 3)
    elseif code:find("EINVAL", 1, true) then
      error("rumor: " .. method .. ": " .. why, 3)
    elseif code:find("ETOOBIG", 1, true) then
      error("rumor: " .. method .. ": the keyring is full (" .. I.config.MAX_KEYRING
        .. " keys); remove one first", 3)
    end
    error("rumor: " .. method .. ": " .. code, 3)
  end

  -- Adds a key this node opens messages with (true; already there is fine).
  function Node:install_key(key)
    return key_call(self, "install_key", key, "not a key")
  end

  -- Seals with an installed key from now on.
  function Node:use_key(key)
    return key_call(self, "use_key", key, "that key is not installed here (install_key it "
      .. "on every node first)")
  end

  -- Removes an installed key that is not the primary.
  function Node:remove_key(key)
    return key_call(self, "remove_key", key, "that key is the primary (use_key another first) "
      .. "or is not installed")
  end

  -- { {id = "1a2b3c4d", primary = true, opened = N}, ... }, the primary first; {} for a
  -- node without a keyring. ids are fingerprints, never the keys.
  function Node:keyring()
    return I.handle_of(self, "keyring"):keyring()
  end
end
