#!/usr/bin/env bash
# Strategy step: "Post-Rollback Validation": the smoke suite against the previous
# release (OLD_URL), then traffic back from maintenance onto it: one weight change,
# previous set 100 %, new and maintenance sets 0 (dns-shift set). `dns-shift
# maintenance off` is not used: it would restore the weights from before maintenance,
# which may still send users to the failed release.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init validate-rollback "$@"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${OLD_URL}"
  rb::bin dns-shift set --zone "${ZONE}" --record "${RECORD}" \
    --weight "${SET_OLD}=100" --weight "${SET_NEW}=0" --weight "${SET_MAINTENANCE}=0"
}

main "$@"
