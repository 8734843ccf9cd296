#!/usr/bin/env bash
# Strategy step: Rollback Execution 3 "Infrastructure Rollback" (if required): roll back
# every stack left in a failed state (stack-deploy rollback: RollbackStack or
# ContinueUpdateRollback as the state requires). Healthy stacks are left alone.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init rollback-infrastructure "$@"
  rb::bin stack-deploy status --app "${ASSEMBLY_DIR}" --all
  local failed=()
  mapfile -t failed < <(rb::jq -r '.. | objects | select(has("status") and has("stack_name"))
    | select(.status | tostring | test("FAILED$")) | .stack_name' | sort -u)
  if ((${#failed[@]} == 0)); then
    log::info "no stack in a failed state; nothing to roll back"
    return 0
  fi
  rb::bin stack-deploy rollback "${failed[@]}"
}

main "$@"
