# Shared by tools/demo and tools/test: package lists and the idempotent installer.
# Source it; it defines ensure_packages and lc_root.

lc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# What building livecart needs (Debian 12 package names).
LC_BUILD_PACKAGES="gcc pkg-config meson ninja-build libglib2.0-dev libjansson-dev libsqlite3-dev libssl-dev
  libwebsockets-dev libwebsockets-evlib-glib libsrtp2-dev libswscale-dev libavutil-dev libsrt-openssl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav libcairo2-dev libpango1.0-dev libgdk-pixbuf-2.0-dev librsvg2-dev fonts-wqy-microhei
  libhiredis-dev"
# What the test suites need on top: Debian's python3 with pytest and websockets for the
# integration tests, clang + its runtime for the libFuzzer targets.
LC_TEST_PACKAGES="python3 python3-pytest python3-websockets clang libclang-rt-14-dev sqlite3 curl valgrind
  ffmpeg gstreamer1.0-tools gstreamer1.0-nice python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1 chromium nftables iproute2 util-linux fonts-wqy-microhei
  redis-server redis-tools"
# Browser tests also need node + npm (preinstalled on these machines; Debian's nodejs/npm otherwise).
# What the demo needs on top of the build.
LC_DEMO_PACKAGES="curl ffmpeg fonts-dejavu-core fonts-wqy-microhei"

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

# ensure_node_modules DIR: `npm ci` in DIR when its node_modules is missing or stale.
ensure_node_modules() {
  local dir=$1
  command -v npm >/dev/null || ensure_packages nodejs npm
  if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "== npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && touch "$dir/node_modules"
  fi
}

# ensure_web_vendor: the browser libraries the viewer pages load, from npm (web/package.json, no
# CDN): `npm ci` in web/ when its node_modules is missing or stale, then hls.js (the replay page's
# player) copied into web/vendor/ (git-ignored), which livecartd serves as /vendor/... like any
# file of the web root.
ensure_web_vendor() {
  local web="$lc_root/web" dist="$lc_root/web/node_modules/hls.js"
  command -v npm >/dev/null || ensure_packages nodejs npm
  if [ ! -f "$dist/dist/hls.min.js" ] || [ "$web/package-lock.json" -nt "$web/node_modules" ]; then
    echo "== npm ci in web"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) && touch "$web/node_modules" || return 1
  fi
  mkdir -p "$web/vendor"
  cmp -s "$dist/dist/hls.min.js" "$web/vendor/hls.min.js" || cp "$dist/dist/hls.min.js" "$web/vendor/hls.min.js" || return 1
  cmp -s "$dist/dist/hls.worker.js" "$web/vendor/hls.worker.js" || cp "$dist/dist/hls.worker.js" "$web/vendor/hls.worker.js" || return 1
  cmp -s "$dist/LICENSE" "$web/vendor/hls.js.LICENSE" || cp "$dist/LICENSE" "$web/vendor/hls.js.LICENSE"
}
