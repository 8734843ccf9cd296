#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 1 "Stop New Deployments": leave every
# stack still before anything else is rolled back. `stack-deploy cancel` cancels an
# update in progress (and waits for its rollback), waits for what cannot be cancelled
# (a create, a rollback, a cleanup) and deletes the pending change set of a stack in
# REVIEW_IN_PROGRESS; it exits 0 once every stack is at rest, in whatever state.
# Stacks already at rest are left alone.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init stop-deployments "$@"
  rb::bin_allowing 4 stack-deploy status --app "${ASSEMBLY_DIR}" --all
  local busy=()
  mapfile -t busy < <(rb::jq -r '.stacks[] | select(.health == "in-progress" or .health == "review") | .stack')
  if ((${#busy[@]} == 0)); then
    log::info "no stack operation in progress; nothing to stop"
    return 0
  fi
  log::info "stopping: ${busy[*]}"
  rb::bin stack-deploy cancel "${busy[@]}"
}

main "$@"
