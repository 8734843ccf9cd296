#!/usr/bin/env bash
# Strategy step: Deployment Day, T+90 "DNS Cutover" with the risk mitigation "Gradual
# Traffic Migration": dns-shift moves the weighted record to the new set step by step;
# before every increase the smoke checks against the new release must pass and no
# critical alarm may be in ALARM. A failing gate reverts the weights: exit 6.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init dns-cutover "$@"
  local gate alarm_args=() a
  gate="$(rb::shell_quote "${LTC_BIN_DIR}/smoke-test" run "${CHECKS_FILE}" --base-url "${NEW_URL}" -q --output text) >&2"
  for a in "${ALARMS[@]}"; do alarm_args+=(--alarm "${a}"); done
  rb::bin dns-shift shift --zone "${ZONE}" --record "${RECORD}" --to "${SET_NEW}" \
    --steps "${CUTOVER_STEPS}" --bake "${CUTOVER_BAKE}" --gate-cmd "${gate}" "${alarm_args[@]}"
}

main "$@"
