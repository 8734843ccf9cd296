#!/usr/bin/env bash
# Strategy step: Deployment Day, T+90 "DNS Cutover" with the risk mitigation "Gradual
# Traffic Migration": dns-shift moves the weighted record to the new set step by step;
# before every increase the smoke checks against the new release must pass, the
# environment's health gates must hold (health-gate check: error rate, P95, database
# CPU, ECS ... of env/NAME.gates.toml) and no critical alarm may be in ALARM
# (and, with HEALTH_CHECK=1, the new set's Route 53 health check must be healthy).
# A failing gate reverts the weights: exit 6.
# The strategy's "zero downtime" is measured, not assumed: a downtime probe requests
# both origins every PROBE_INTERVAL from before the shift until after it; its summary
# lands in the run folder, and a failed request to the new origin (which must serve
# throughout a completed cutover) fails the step with exit 4.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init dns-cutover "$@"
  local gate health_gate alarm_args=() hc_args=() a code=0 probe_code=0
  gate="$(rb::shell_quote "${LTC_BIN_DIR}/smoke-test" run "${CHECKS_FILE}" --base-url "${NEW_URL}" -q --output text) >&2"
  rb::gates
  health_gate="$(rb::shell_quote "${LTC_BIN_DIR}/health-gate" check --gates "${RB_GATES}" -q --output text) >&2"
  for a in "${ALARMS[@]}"; do alarm_args+=(--alarm "${a}"); done
  [[ "${HEALTH_CHECK:-0}" != 1 ]] || hc_args=(--health-check)
  rb::probe_start "${OLD_URL}" "${NEW_URL}" --expect-serving "${NEW_URL}"
  # The weights before the shift, kept as this run's record for the rollback and the report.
  rb::bin dns-shift show --zone "${ZONE}" --record "${RECORD}"
  rb::put_record dns-weights.json "${RB_LAST_OUT}"
  rb::bin dns-shift shift --zone "${ZONE}" --record "${RECORD}" --to "${SET_NEW}" \
    --steps "${CUTOVER_STEPS}" --bake "${CUTOVER_BAKE}" --gate-cmd "${gate}" \
    --gate-cmd "${health_gate}" "${alarm_args[@]}" "${hc_args[@]}" || code=$?
  ((RB_DRY_RUN == 0)) || return "${code}"
  rb::probe_stop || probe_code=$?
  # A reverted (6) or otherwise failed shift keeps its own exit code: the new origin
  # failing is then what the gate saw, not news.
  ((code == 0)) || return "${code}"
  if ((probe_code != 0)); then
    log::error "the cutover completed, but ${NEW_URL} failed requests while it had to serve (details in the probe summary)"
  fi
  return "${probe_code}"
}

main "$@"
