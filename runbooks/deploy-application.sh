#!/usr/bin/env bash
# Strategy step: Deployment Day, T+30 "Application Deployment": first the ECS services'
# auto scaling (min, max, policies, suspended state) and the task definition each
# service runs are kept as this run's records scaling-<cluster>.json and
# ecs-services-<cluster>.json, for the rollback to restore; then the Api stack, then the
# StaticSite stack (sequential), the release hook where the stacks do not publish the
# release themselves, then "validate load balancer and auto-scaling": the target
# health of both releases' target groups (lb-switch health: at least LB_MIN_HEALTHY of
# each group's targets healthy, default 100 %) and each service's auto scaling after
# the release (ecs-revert scaling show), then "test application functionality": smoke
# tests against the new release directly (NEW_URL), before any user traffic reaches it.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init deploy-application "$@"
  local services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  # Before anything changes; a resumed step keeps the first record.
  rb::bin ecs-revert scaling record --cluster "${ECS_CLUSTER}" "${services[@]}"
  # The task definition each service runs now: the rollback reverts to exactly these.
  rb::bin ecs-revert status --cluster "${ECS_CLUSTER}" "${services[@]}"
  rb::put_record "ecs-services-${ECS_CLUSTER}.json" "${RB_LAST_OUT}"
  rb::bin stack-deploy deploy --app "${ASSEMBLY_DIR}" "${APPLICATION_STACKS[@]}" \
    --concurrency 1 "${STACK_DEPLOY_ARGS[@]}"
  if ((${#RELEASE_HOOK[@]} > 0)); then
    if ((RB_DRY_RUN)); then
      log::info "dry run: would run the release hook: ${RELEASE_HOOK[*]}"
    else
      log::info "\$ ${RELEASE_HOOK[*]}"
      "${RELEASE_HOOK[@]}"
    fi
  fi
  rb::check_target_health "${LB_TARGET_GROUP_NEW:-}" "${LB_TARGET_GROUP_OLD:-}"
  rb::bin ecs-revert scaling show --cluster "${ECS_CLUSTER}" "${services[@]}"
  rb::jq -r '.targets[] | "auto scaling \(.service): " + (if .registered then "min \(.min) max \(.max)" else "no scalable target" end)' |
    while IFS= read -r line; do log::info "${line}"; done
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${NEW_URL}"
}

main "$@"
