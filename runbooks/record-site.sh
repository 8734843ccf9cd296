#!/usr/bin/env bash
# Strategy step: Deployment Day, T-4h "Backup existing production systems": record the
# static site's object versions (site-restore record) so the rollback can restore them.
# The manifest is kept in the run folder and, outside dry runs, as the environment's
# current one in ${LTC_STATE_DIR}/site-manifest.json (read by restore-site.sh).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init record-site "$@"
  rb::bin site-restore record --bucket "${SITE_BUCKET}"
  if ((RB_DRY_RUN == 0)); then
    cp "${RB_LAST_OUT}" "${LTC_STATE_DIR}/site-manifest.json"
    log::info "site manifest kept as ${LTC_STATE_DIR}/site-manifest.json"
  fi
}

main "$@"
