#!/usr/bin/env bash
# Strategy step: Rollback Execution 2 "Restore previous static site content": make the
# object versions recorded before the deploy (record-site.sh) current again, then
# invalidate CloudFront (site-restore restore). SITE_MANIFEST overrides the manifest.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init restore-site "$@"
  local manifest="${SITE_MANIFEST:-${LTC_STATE_DIR}/site-manifest.json}" dist=()
  [[ -f "${manifest}" ]] || {
    log::error "no recorded site manifest at ${manifest}: run record-site.sh before a deploy, or set SITE_MANIFEST"
    exit 2
  }
  [[ -z "${SITE_DISTRIBUTION:-}" ]] || dist=(--distribution "${SITE_DISTRIBUTION}")
  rb::bin site-restore restore --bucket "${SITE_BUCKET}" --manifest "${manifest}" "${dist[@]}"
}

main "$@"
