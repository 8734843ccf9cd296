#!/usr/bin/env bash
# Strategy step: Deployment Day, T-4h "Backup existing production systems": a manual
# RDS snapshot (db-snapshot create) that the database rollback restores from.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init backup-database "$@"
  rb::bin db-snapshot create --instance "${DB_INSTANCE}" --prefix "${DB_SNAPSHOT_PREFIX}" \
    --tag "run=${LTC_RUN_ID}"
  log::info "snapshot: $(rb::jq -r '.snapshot_id // "?"')"
  rb::put_record db-snapshot.json "${RB_LAST_OUT}"
}

main "$@"
