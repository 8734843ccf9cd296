#!/usr/bin/env bash
# Installs missing Debian packages (scripts/test, scripts/rehearse, scripts/bench).
# Source it; do not run it.

# deps::debian PKG...: apt-get installs those not installed yet (sudo when not root).
deps::debian() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "ok installed" || missing+=("${pkg}")
  done
  ((${#missing[@]} > 0)) || return 0
  log::info "installing Debian packages: ${missing[*]}"
  local sudo=()
  [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# deps::chromium: Debian's chromium (headless; the run report's browser test),
# installed when missing. Prints the path of the binary.
deps::chromium() {
  command -v chromium >/dev/null 2>&1 || deps::debian chromium >&2
  command -v chromium
}
