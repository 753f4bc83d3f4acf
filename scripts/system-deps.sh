#!/usr/bin/env bash
# Installs the system packages the real-part tests and benchmarks use, when missing: a real
# Secret Service (gnome-keyring on D-Bus, secret-tool), pass with gpg, Chromium, util-linux's
# `script` (a controlling terminal), faketime (clock skew), openssl, network namespaces, the release
# tools (ruby, zip, apt-ftparchive, file, man), hyperfine, wrk, nginx, redis-server (gateway state tests), haproxy (deploy topology test) and mitmproxy (a TLS-intercepting proxy). On Debian as root it
# installs them with apt-get; otherwise it names what is missing and fails.
set -euo pipefail
declare -A need=(
  [dbus-daemon]=dbus [dbus-run-session]=dbus [gnome-keyring-daemon]=gnome-keyring [secret-tool]=libsecret-tools
  [pass]=pass [gpg]=gnupg [chromium]=chromium [script]=bsdutils [faketime]=faketime [openssl]=openssl
  [hyperfine]=hyperfine [wrk]=wrk [nginx]=nginx-light [unshare]=util-linux [ip]=iproute2
  [ruby]=ruby [zip]=zip [unzip]=unzip [apt-ftparchive]=apt-utils [file]=file [man]=man-db [xz]=xz-utils
  [redis-server]=redis-server [haproxy]=haproxy [mitmdump]=mitmproxy
)
missing=()
for cmd in "${!need[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  exit 0
fi
echo "system-deps: missing system packages: ${packages[*]}" >&2
echo "system-deps: install them (Debian/Ubuntu: sudo apt-get install ${packages[*]}) and run again." >&2
exit 1
