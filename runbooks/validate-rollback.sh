#!/usr/bin/env bash
# Strategy step: "Post-Rollback Validation": the smoke suite against the previous
# release (OLD_URL), then traffic back from maintenance onto it: one weight change,
# previous set 100 %, new and maintenance sets 0 (dns-shift set). `dns-shift
# maintenance off` is not used: it would restore the weights from before maintenance,
# which may still send users to the failed release. "Validate auto-scaling": each ECS
# service's auto scaling is shown (ecs-revert scaling show, read-only). Last, with
# traffic back on the previous release, the environment's health gates must hold
# (health-gate check, runbooks/env/NAME.gates.toml).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Auto scaling of the ECS services (read-only): min, max and suspended state per
# service in the log, the full answer in the run folder.
show_scaling() {
  local services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  rb::bin ecs-revert scaling show --cluster "${ECS_CLUSTER}" "${services[@]}"
  rb::jq -r '.targets[] | "auto scaling \(.service): " + (if .registered then "min \(.min) max \(.max), suspended \(.suspended | [to_entries[] | select(.value) | .key] | if length == 0 then "none" else join("+") end)" else "no scalable target" end)' |
    while IFS= read -r line; do log::info "${line}"; done
  if rb::jq -e '[.targets[] | select(.registered and (.suspended | to_entries | any(.value)))] | length > 0' >/dev/null; then
    log::warn "auto scaling is suspended for some services (above); resume with: ecs-revert scaling resume --cluster ${ECS_CLUSTER} --service ..."
  fi
}

main() {
  rb::step_init validate-rollback "$@"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${OLD_URL}"
  show_scaling
  # Traffic back onto the previous release, watched by the downtime probe: the
  # previous origin must answer every request while the weights move.
  local code=0 probe_code=0
  rb::probe_start "${OLD_URL}" "${NEW_URL}" --expect-serving "${OLD_URL}"
  rb::bin dns-shift set --zone "${ZONE}" --record "${RECORD}" \
    --weight "${SET_OLD}=100" --weight "${SET_NEW}=0" --weight "${SET_MAINTENANCE}=0" || code=$?
  rb::probe_stop || probe_code=$?
  ((code == 0)) || return "${code}"
  ((probe_code == 0)) || return "${probe_code}"
  rb::check_health_gates
}

main "$@"
