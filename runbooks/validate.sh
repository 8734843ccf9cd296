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
  rb::show_scaling
  rb::check_target_health "${LB_TARGET_GROUP_NEW:-}" "${LB_TARGET_GROUP_OLD:-}"
  check_alarms
  rb::check_health_gates
}

main "$@"
