/* lfault.c: the fault-injection methods of the node userdata, over
 * rumor_node_set_fault and rumor_node_clear_faults (rumor.h):
 *
 *   n:set_fault(peer or nil, loss, delay_ms, cut) -> true | nil, err, code
 *   n:clear_faults()                              -> true
 *
 * The arguments are checked, and errors worded, by lua/rumor/faults.lua
 * (node:set_fault{...}); these check only types, so a bad call from there
 * raises rather than reaching the core. The core copies what it keeps
 * (the peer's parsed address), so nothing here owns memory or holds refs:
 * there is nothing to detach when the node closes.
 */
#include "lrumor.h"

/* n:set_fault(peer, loss, delay_ms, cut): peer nil sets the default. */
static int node_m_set_fault(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  const char *peer = luaL_optstring(L, 2, NULL);
  double loss = luaL_checknumber(L, 3);
  lua_Integer delay = luaL_checkinteger(L, 4);
  int cut;
  luaL_checktype(L, 5, LUA_TBOOLEAN);
  cut = lua_toboolean(L, 5);
  luaL_argcheck(L, delay >= 0 && delay <= RUMOR_FAULT_MAX_DELAY_MS, 4, "delay_ms out of range");
  int rc = rumor_node_set_fault(n->node, peer, loss, (uint32_t)delay, cut);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* n:clear_faults(): every peer's setting and the default go. */
static int node_m_clear_faults(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  int rc = rumor_node_clear_faults(n->node);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg fault_methods[] = {
  {"set_fault", node_m_set_fault},
  {"clear_faults", node_m_clear_faults},
  {NULL, NULL}
};

/* Adds the methods above to the node metatable made by lrumor_node_open. */
void lrumor_fault_open(lua_State *L) {
  luaL_getmetatable(L, LRUMOR_NODE_MT);
  luaL_setfuncs(L, fault_methods, 0);
  lua_pop(L, 1);
}
