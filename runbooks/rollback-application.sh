#!/usr/bin/env bash
# Strategy step: Rollback Execution 2 "Application Rollback": revert the ECS services to
# the task definition deployed before this release (the rolled-back deploy's record
# ecs-services-<cluster>.json; without one, ecs-revert revert infers it: from the shared
# journal, else the deployments, else revision - 1; it says which; auto scaling is
# suspended during the revert and put back after), then "update auto-scaling": each
# service's scalable target (min, max, suspended state) as the rolled-back deploy
# recorded it (ecs-revert scaling restore; policies are compared, not recreated), and
# each service back to its production desired count (ECS_DESIRED).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The scaling record of the deploy being rolled back; a warning (and nothing
# restored) when there is no such run or it has no record (a deploy made
# before deploy-application recorded scaling).
restore_scaling() {
  local record="scaling-${ECS_CLUSTER}.json"
  if ! rb::rollback_run; then
    log::warn "auto scaling not restored: no deploy run to take ${record} from"
    return 0
  fi
  if ! "${LTC_BIN_DIR}/run-state" runs get "${ROLLBACK_RUN}" "${record}" --env "${LTC_ENV_NAME}" >/dev/null 2>&1; then
    log::warn "auto scaling not restored: run ${ROLLBACK_RUN} has no record ${record} (run-state runs show ${ROLLBACK_RUN} --env ${LTC_ENV_NAME})"
    return 0
  fi
  rb::bin ecs-revert scaling restore --cluster "${ECS_CLUSTER}" --run "${ROLLBACK_RUN}"
}

# The rolled-back deploy's record of the task definition each service ran
# before it changed anything, into RECORD_FILE; returns 1 when there is none.
fetch_services_record() {
  local record="ecs-services-${ECS_CLUSTER}.json"
  RECORD_FILE="${RB_RUN_DIR}/${record}"
  rb::rollback_run 2>/dev/null || return 1
  "${LTC_BIN_DIR}/run-state" runs get "${ROLLBACK_RUN}" "${record}" --env "${LTC_ENV_NAME}" >"${RECORD_FILE}" 2>/dev/null
}

# Reverts each service to exactly the recorded task definition.
revert_to_record() {
  local s td
  log::info "reverting to the task definitions run ${ROLLBACK_RUN} recorded before its deploy"
  for s in "${ECS_SERVICES[@]}"; do
    td="$(jq -r --arg s "${s}" '.services[] | select(.service == $s) | .task_definition // empty' "${RECORD_FILE}")"
    if [[ -z "${td}" ]]; then
      log::warn "the record has no task definition for ${s}; ecs-revert infers its previous one"
      rb::bin ecs-revert revert --cluster "${ECS_CLUSTER}" --service "${s}"
    else
      rb::bin ecs-revert revert --cluster "${ECS_CLUSTER}" --service "${s}" --to "${td}"
    fi
  done
}

main() {
  rb::step_init rollback-application "$@"
  local services=() s kv
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  if fetch_services_record; then
    revert_to_record
  else
    rb::bin ecs-revert revert --cluster "${ECS_CLUSTER}" "${services[@]}"
  fi
  # Limits first, so the counts below are checked against the restored min/max.
  restore_scaling
  for kv in "${ECS_DESIRED[@]}"; do
    rb::bin ecs-revert scale --cluster "${ECS_CLUSTER}" --service "${kv%%=*}" --desired "${kv#*=}"
  done
}

main "$@"
