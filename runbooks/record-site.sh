#!/usr/bin/env bash
# Strategy step: Deployment Day, T-4h "Backup existing production systems": record the
# static site's object versions (site-restore record) so the rollback can restore them.
# The manifest is kept in the run folder and, outside dry runs, as this run's record
# site-manifest.json in the shared state (read by restore-site.sh for this run only).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init record-site "$@"
  rb::bin site-restore record --bucket "${SITE_BUCKET}"
  rb::put_record site-manifest.json "${RB_LAST_OUT}"
}

main "$@"
