#!/usr/bin/env bash
# Strategy step: Rollback Execution 2 "Application Rollback": revert the ECS services to
# the task definition deployed before this release (ecs-revert revert: from the journal,
# else the deployments, else revision - 1; it says which), then "update auto-scaling":
# each service back to its production desired count (ECS_DESIRED).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init rollback-application "$@"
  local services=() s kv
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  rb::bin ecs-revert revert --cluster "${ECS_CLUSTER}" "${services[@]}"
  for kv in "${ECS_DESIRED[@]}"; do
    rb::bin ecs-revert scale --cluster "${ECS_CLUSTER}" --service "${kv%%=*}" --desired "${kv#*=}"
  done
}

main "$@"
