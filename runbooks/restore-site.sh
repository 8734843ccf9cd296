#!/usr/bin/env bash
# Strategy step: Rollback Execution 2 "Restore previous static site content": make the
# object versions recorded before the deploy (record-site.sh) current again, then
# invalidate CloudFront (site-restore restore). The manifest is the record of the deploy
# run being rolled back (ROLLBACK_RUN, default the newest deploy run); SITE_MANIFEST
# (a file) overrides it.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init restore-site "$@"
  local manifest="${SITE_MANIFEST:-}" dist=()
  if [[ -z "${manifest}" ]]; then
    rb::rollback_run || rb::usage_error "no deploy run to restore the site of: set ROLLBACK_RUN or SITE_MANIFEST"
    manifest="${RB_RUN_DIR}/site-manifest.${ROLLBACK_RUN}.json"
    rb::get_record "${ROLLBACK_RUN}" site-manifest.json "${manifest}"
  fi
  [[ -f "${manifest}" ]] || rb::usage_error "no site manifest at ${manifest}"
  [[ -z "${SITE_DISTRIBUTION:-}" ]] || dist=(--distribution "${SITE_DISTRIBUTION}")
  rb::bin site-restore restore --bucket "${SITE_BUCKET}" --manifest "${manifest}" "${dist[@]}"
}

main "$@"
