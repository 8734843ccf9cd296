#!/usr/bin/env bash
# Shared helpers for scripts/ and runbooks/: timestamped logging to stderr and an
# ERR trap that says where a script failed. Source it; do not run it.

# shellcheck disable=SC2034  # read by the scripts that source this file
LTC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log::ts() { date -u +%H:%M:%S; }
log::info() { printf '%s %s\n' "$(log::ts)" "$*" >&2; }
log::warn() { printf '%s warning: %s\n' "$(log::ts)" "$*" >&2; }
log::error() { printf '%s error: %s\n' "$(log::ts)" "$*" >&2; }
log::die() {
  log::error "$*"
  exit 1
}

# Prints the failing command and line, then lets the script exit.
log::on_err() {
  local code=$? line=${BASH_LINENO[0]} src=${BASH_SOURCE[1]:-?}
  log::error "${src}:${line}: '${BASH_COMMAND}' exited ${code}"
}

log::trap_err() { trap log::on_err ERR; }
