/* error.c: names and messages for rumor's error codes (libuv's pass through). */
#include "rumor.h"

const char *rumor_strerror(int code) {
  switch (code) {
  case 0: return "success";
  case RUMOR_EINVAL: return "invalid argument";
  case RUMOR_ESTATE: return "operation not allowed in the node's current state";
  case RUMOR_ETOOBIG: return "over a configured limit (key or value size, entries, members)";
  case RUMOR_ENOMEM: return "out of memory";
  case RUMOR_EADDR: return "address is not host:port";
  default: return uv_strerror(code);
  }
}

const char *rumor_err_name(int code) {
  switch (code) {
  case 0: return "OK";
  case RUMOR_EINVAL: return "EINVAL";
  case RUMOR_ESTATE: return "ESTATE";
  case RUMOR_ETOOBIG: return "ETOOBIG";
  case RUMOR_ENOMEM: return "ENOMEM";
  case RUMOR_EADDR: return "EADDR";
  default: return uv_err_name(code);
  }
}
