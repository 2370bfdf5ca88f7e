# Shared by tools/demo and tools/test: package lists and the idempotent installer.
# Source it; it defines ensure_packages and lc_root.

lc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# What building livecart needs (Debian 12 package names).
LC_BUILD_PACKAGES="gcc pkg-config meson ninja-build libglib2.0-dev libjansson-dev libsqlite3-dev libssl-dev
  libwebsockets-dev libwebsockets-evlib-glib"
# What the test suites need on top: Debian's python3 with pytest and websockets for the
# integration tests, clang + its runtime for the libFuzzer targets.
LC_TEST_PACKAGES="python3 python3-pytest python3-websockets clang libclang-rt-14-dev sqlite3 curl valgrind"
# What the demo needs on top of the build.
LC_DEMO_PACKAGES="curl"

# ensure_packages PKG...: installs the missing ones with apt, unattended; says what it installs.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq </dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  echo "== installed: ${missing[*]}"
}

# meson_build DIR [meson options...]: configures DIR once (reconfigures when options
# change) and builds it.
meson_build() {
  local dir=$1
  shift
  if [ -f "$lc_root/$dir/build.ninja" ]; then
    meson configure "$lc_root/$dir" "$@" >/dev/null
  else
    meson setup "$lc_root/$dir" "$lc_root" "$@" >/dev/null
  fi
  ninja -C "$lc_root/$dir" </dev/null
}
