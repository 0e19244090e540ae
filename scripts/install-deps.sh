#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages rumor needs that are missing.
#   scripts/install-deps.sh          build, demo and tests
#   scripts/install-deps.sh --ci     also the sanitizer, fuzzing and leak-check tools
#   scripts/install-deps.sh --plot   also gnuplot, for the figure of `make sim-study`
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

# lua-luv: optional for users (rumor.use_luv), installed so that spec/luv_spec.lua runs.
packages=(cmake make gcc pkg-config lua5.4 liblua5.4-dev libuv1-dev libsodium-dev lua-cjson lua-busted luarocks lua-luv)
if [ "${1:-}" = "--ci" ]; then
  # iproute2 (ip) and util-linux (unshare, nsenter): spec/netns_spec.lua runs hosts in
  # network namespaces of their own where the machine allows it.
  packages+=(clang libclang-rt-dev valgrind iproute2 util-linux)
elif [ "${1:-}" = "--plot" ]; then
  # gnuplot-nox: gnuplot without X11 or Qt; its svg terminal is all the study needs.
  packages+=(gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rumor: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "rumor: not root; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
