#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 2 "Traffic Diversion": take user traffic
# off the release and "activate maintenance page": 100 % on the maintenance set
# (dns-shift maintenance on; the weights before are kept in the journal). When the
# environment names its maintenance origin (MAINTENANCE_URL), a downtime probe watches
# it and the previous release's origin while traffic moves: the maintenance origin
# must answer every request (exit 4 otherwise, after the diversion is made).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init divert-traffic "$@"
  local code=0 probe_code=0
  if [[ -n "${MAINTENANCE_URL:-}" ]]; then
    rb::probe_start "${MAINTENANCE_URL}" "${OLD_URL}" --expect-serving "${MAINTENANCE_URL}"
  else
    log::info "no MAINTENANCE_URL in the settings: no downtime probe of the maintenance origin"
  fi
  rb::bin dns-shift maintenance on --zone "${ZONE}" --record "${RECORD}" --set "${SET_MAINTENANCE}" || code=$?
  rb::probe_stop || probe_code=$?
  ((code == 0)) || return "${code}"
  return "${probe_code}"
}

main "$@"
