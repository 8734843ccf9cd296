#!/usr/bin/env bash
# Strategy step: Rollback Execution 3 "Infrastructure Rollback" (if required): roll back
# every stack left in a failed state (stack-deploy rollback: RollbackStack or
# ContinueUpdateRollback as the state requires). Healthy stacks are left alone.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init rollback-infrastructure "$@"
  rb::bin_allowing 4 stack-deploy status --app "${ASSEMBLY_DIR}" --all
  local failed=() rolled_back=()
  mapfile -t failed < <(rb::jq -r '.stacks[] | select(.health == "failed") | .stack')
  mapfile -t rolled_back < <(rb::jq -r '.stacks[] | select(.health == "create-rolled-back") | .stack')
  ((${#rolled_back[@]} == 0)) ||
    log::warn "stacks whose create was rolled back (delete them before deploying again): ${rolled_back[*]}"
  if ((${#failed[@]} == 0)); then
    log::info "no stack in a failed state; nothing to roll back"
    return 0
  fi
  rb::bin stack-deploy rollback "${failed[@]}"
}

main "$@"
