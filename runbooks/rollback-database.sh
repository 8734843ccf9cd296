#!/usr/bin/env bash
# Strategy step: Rollback Execution 1 "Database Rollback" (if required): stop application
# connections (every ECS service scaled to 0), restore from the latest pre-deploy
# backup under the same instance name (db-snapshot restore latest --swap; the old
# instance is kept as <name>-pre-restore-<time>), then validate it (db-snapshot verify,
# with DB_CHECK_CMD as the data-integrity check when set). rollback-application.sh
# scales the services back.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init rollback-database "$@"
  local s
  for s in "${ECS_SERVICES[@]}"; do
    rb::bin ecs-revert scale --cluster "${ECS_CLUSTER}" --service "${s}" --desired 0
  done
  rb::bin db-snapshot latest --instance "${DB_INSTANCE}" --prefix "${DB_SNAPSHOT_PREFIX}"
  local latest="${RB_LAST_OUT}"
  log::info "restoring $(jq -r '.snapshot_id // "?"' "${latest}") (age $(jq -r '.age // "?"' "${latest}"))"
  rb::bin db-snapshot restore --snapshot - --instance "${DB_INSTANCE}" \
    --target "${DB_INSTANCE}-restore-$(date -u +%Y%m%d%H%M%S)" --swap <"${latest}"
  local check=()
  [[ -z "${DB_CHECK_CMD:-}" ]] || check=(--check-cmd "${DB_CHECK_CMD}")
  rb::bin db-snapshot verify --instance "${DB_INSTANCE}" "${check[@]}"
}

main "$@"
