#!/usr/bin/env bash
# Strategy step: Rollback Execution 1 "Database Rollback" (if required): stop application
# connections (every ECS service scaled to 0), restore the pre-deploy snapshot that the
# rolled-back deploy run recorded (ROLLBACK_RUN) under the same instance name
# (db-snapshot restore --swap; the old
# instance is kept as <name>-pre-restore-<time>), then validate it (db-snapshot verify,
# with DB_CHECK_CMD as the data-integrity check when set). rollback-application.sh
# scales the services back.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init rollback-database "$@"
  # The snapshot the rolled-back deploy run took (never a later run's), found
  # before anything is stopped.
  rb::rollback_run || rb::usage_error "no deploy run whose snapshot to restore: set ROLLBACK_RUN"
  local latest="${RB_RUN_DIR}/db-snapshot.${ROLLBACK_RUN}.json" s
  rb::get_record "${ROLLBACK_RUN}" db-snapshot.json "${latest}"
  # Auto scaling would start tasks again while the database is restored: suspend it
  # first (rollback-application.sh restores the deploy's recorded scaling state).
  local services=()
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  rb::bin ecs-revert scaling suspend --cluster "${ECS_CLUSTER}" "${services[@]}"
  for s in "${ECS_SERVICES[@]}"; do
    rb::bin ecs-revert scale --cluster "${ECS_CLUSTER}" --service "${s}" --desired 0
  done
  log::info "restoring $(jq -r '.snapshot_id // "?"' "${latest}") (taken by deploy run ${ROLLBACK_RUN})"
  rb::bin db-snapshot restore --snapshot - --instance "${DB_INSTANCE}" \
    --target "${DB_INSTANCE}-restore-$(date -u +%Y%m%d%H%M%S)" --swap <"${latest}"
  local check=()
  [[ -z "${DB_CHECK_CMD:-}" ]] || check=(--check-cmd "${DB_CHECK_CMD}")
  rb::bin db-snapshot verify --instance "${DB_INSTANCE}" "${check[@]}"
}

main "$@"
