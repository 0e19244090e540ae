/* lkeyring.c: encryption in the Lua binding.
 *
 *   config: secret = "<key>"  or  keyring = {"<primary>", "<other>", ...}
 *   core.keygen()                      -> "<base64 key>"
 *   core.seal(key, msg, wall_ms, counter [, salt]) -> envelope (for tests
 *                                         that forge and replay messages)
 *   n:install_key(k) / n:use_key(k) / n:remove_key(k) -> true | nil, err, code
 *   n:keyring()                        -> { {id=, primary=, opened=}, ... }
 *
 * The key strings stay owned by the config table while the core parses
 * them; the core keeps only the parsed keys, which it wipes on close.
 */
#include "lrumor.h"
#include "../core/src/seal.h"

#include <string.h>

void lrumor_read_keyring(lua_State *L, rumor_config_t *cfg) {
  int ts = lua_getfield(L, 1, "secret");
  int tk = lua_getfield(L, 1, "keyring");
  const char **keys;
  lua_Integer i, n;
  if (ts != LUA_TNIL && tk != LUA_TNIL)
    luaL_error(L, "rumor: fields 'secret' and 'keyring': give one, not both");
  if (ts != LUA_TNIL) {
    if (ts != LUA_TSTRING)
      luaL_error(L, "rumor: field 'secret': expected a string, got %s", luaL_typename(L, -2));
    keys = (const char **)lua_newuserdatauv(L, sizeof *keys, 0);
    keys[0] = lua_tostring(L, -3); /* the secret stays on the stack */
    cfg->keyring = keys;
    cfg->nkeys = 1;
    return;
  }
  if (tk == LUA_TNIL)
    return;
  if (tk != LUA_TTABLE)
    luaL_error(L, "rumor: field 'keyring': expected an array of keys, got %s", luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0)
    luaL_error(L, "rumor: field 'keyring': is empty (leave it out for no encryption)");
  if (n > RUMOR_MAX_KEYRING)
    luaL_error(L, "rumor: field 'keyring': holds at most %d keys (got %I)", RUMOR_MAX_KEYRING, n);
  keys = (const char **)lua_newuserdatauv(L, (size_t)n * sizeof *keys, 0);
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -2, i) != LUA_TSTRING)
      luaL_error(L, "rumor: field 'keyring': item %I is %s, expected a string", i,
                 luaL_typename(L, -1));
    keys[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the keyring table */
  }
  cfg->keyring = keys;
  cfg->nkeys = (size_t)n;
}

static int l_keygen(lua_State *L) {
  char buf[RUMOR_KEY_TEXT_LEN + 1];
  int rc = rumor_keygen(buf, sizeof buf);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushstring(L, buf);
  return 1;
}

/* core.seal(key, msg, wall_ms, counter [, salt]): an envelope as a node with
 * that key, salt (16 bytes, default zeros) and counter would send it. */
static int l_seal(lua_State *L) {
  size_t klen, mlen, slen = 0;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *msg = luaL_checklstring(L, 2, &mlen);
  lua_Integer wall = luaL_checkinteger(L, 3);
  lua_Integer counter = luaL_checkinteger(L, 4);
  const char *salt = luaL_optlstring(L, 5, NULL, &slen);
  uint8_t k[RUMOR_KEY_BYTES];
  rumor_keyring kr;
  luaL_argcheck(L, salt == NULL || slen == RUMOR_SEAL_SALT_BYTES, 5, "salt must be 16 bytes");
  luaL_argcheck(L, counter > 0, 4, "counter must be positive");
  if (rumor__key_parse(key, klen, k) != 0)
    return luaL_argerror(L, 1, "not a key (base64 of 32 bytes, or 64 hex digits)");
  rumor__keyring_init(&kr, 0, 0);
  if (salt != NULL)
    memcpy(kr.salt, salt, RUMOR_SEAL_SALT_BYTES);
  rumor__keyring_add(&kr, k, 1);
  rumor__key_wipe(k);
  kr.counter = (uint64_t)counter - 1;
  luaL_Buffer b;
  uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, mlen + RUMOR_SEAL_OVERHEAD);
  size_t len = rumor__seal(&kr, (uint64_t)wall, (const uint8_t *)msg, mlen, out);
  rumor__keyring_wipe(&kr);
  luaL_pushresultsize(&b, len);
  return 1;
}

typedef int (*key_op)(rumor_node_t *node, const char *key, size_t len);

static int key_method(lua_State *L, key_op op) {
  lrumor_node_t *n = lrumor_check_node(L);
  size_t len;
  const char *key = luaL_checklstring(L, 2, &len);
  int rc = op(n->node, key, len);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int node_m_install_key(lua_State *L) { return key_method(L, rumor_node_key_install); }
static int node_m_use_key(lua_State *L) { return key_method(L, rumor_node_key_use); }
static int node_m_remove_key(lua_State *L) { return key_method(L, rumor_node_key_remove); }

static int node_m_keyring(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  rumor_key_info_t keys[RUMOR_MAX_KEYRING];
  size_t count = rumor_node_keyring(n->node, keys, RUMOR_MAX_KEYRING);
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, keys[i].id);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, keys[i].primary);
    lua_setfield(L, -2, "primary");
    lua_pushinteger(L, (lua_Integer)keys[i].opened);
    lua_setfield(L, -2, "opened");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static const luaL_Reg keyring_methods[] = {
  {"install_key", node_m_install_key},
  {"use_key", node_m_use_key},
  {"remove_key", node_m_remove_key},
  {"keyring", node_m_keyring},
  {NULL, NULL}
};

static const luaL_Reg keyring_funcs[] = {
  {"keygen", l_keygen},
  {"seal", l_seal},
  {NULL, NULL}
};

void lrumor_keyring_open(lua_State *L) {
  luaL_getmetatable(L, LRUMOR_NODE_MT);
  luaL_setfuncs(L, keyring_methods, 0);
  lua_pop(L, 1);
}

void lrumor_keyring_register(lua_State *L) { luaL_setfuncs(L, keyring_funcs, 0); }
