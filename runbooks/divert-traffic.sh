#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 2 "Traffic Diversion": take user traffic
# off the release and "activate maintenance page": 100 % on the maintenance set
# (dns-shift maintenance on; the weights before are kept in the journal).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init divert-traffic "$@"
  rb::bin dns-shift maintenance on --zone "${ZONE}" --record "${RECORD}" --set "${SET_MAINTENANCE}"
}

main "$@"
