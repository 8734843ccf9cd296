#!/usr/bin/env bash
# Strategy step: Deployment Day, T+120 "Post-Deployment Validation": the full smoke
# suite against the new release, a short load check against the strategy's thresholds
# (smoke-test defaults: error rate 5 %, P95 2000 ms critical), every stack complete
# (stack-deploy status), no critical alarm in ALARM, and "validate load balancer and
# auto-scaling": each ECS service's auto scaling shown (ecs-revert scaling show) and
# the target health of both releases' target groups (lb-switch health, at least
# LB_MIN_HEALTHY of each group's targets healthy, default 100 %; blue stays the
# rollback's way back), and "confirm error rates within normal ranges": the
# environment's health gates (health-gate check: error rate, P95, database CPU, ECS ...).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Every alarm name or prefix in ALARMS must match an alarm (a typo must not pass as
# "nothing firing") and none may be in ALARM; dns-shift's shift gates use the same rule.
check_alarms() {
  local args=() pattern
  for pattern in "${ALARMS[@]}"; do args+=(--alarm "${pattern}"); done
  rb::bin dns-shift alarms "${args[@]}"
}

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

# Target health of the given target groups (lb-switch health, read-only): exit 4 when
# one has less than LB_MIN_HEALTHY of its registered targets healthy; in a dry run
# (nothing deployed) that is reported and the step goes on. No groups: nothing to check.
check_target_health() {
  local groups=() g code=0
  for g in "$@"; do [[ -z "${g}" ]] || groups+=(--target-group "${g}"); done
  if ((${#groups[@]} == 0)); then
    log::info "no LB_TARGET_GROUP_OLD/NEW in the settings: no target health check"
    return 0
  fi
  rb::bin lb-switch health "${groups[@]}" --min-healthy "${LB_MIN_HEALTHY:-100%}" || code=$?
  rb::jq -r '.target_groups[]? | "target health \(.name): \(.healthy)/\(.registered) healthy (\(.healthy_percent) %)"' 2>/dev/null |
    while IFS= read -r line; do log::info "${line}"; done || true
  ((code != 4 || RB_DRY_RUN == 0)) || { log::info "(dry run: nothing was deployed; read on)"; code=0; }
  return "${code}"
}

main() {
  rb::step_init validate "$@"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${NEW_URL}"
  rb::bin smoke-test load "${CHECKS_FILE}" --base-url "${NEW_URL}" "${LOAD_ARGS[@]}"
  if ((RB_DRY_RUN)); then
    # A dry-run deploy created nothing, so stacks may be missing: report, do not fail.
    rb::bin_allowing 4 stack-deploy status --app "${ASSEMBLY_DIR}" --all
  else
    rb::bin stack-deploy status --app "${ASSEMBLY_DIR}" --all
  fi
  show_scaling
  check_target_health "${LB_TARGET_GROUP_NEW:-}" "${LB_TARGET_GROUP_OLD:-}"
  check_alarms
  rb::check_health_gates
}

main "$@"
