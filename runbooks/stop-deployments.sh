#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 1 "Stop New Deployments": halt any
# CloudFormation update still in progress (stack-deploy cancel). Stacks that are not
# in progress are left alone.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init stop-deployments "$@"
  rb::bin_allowing 4 stack-deploy status --app "${ASSEMBLY_DIR}" --all
  local busy=()
  mapfile -t busy < <(rb::jq -r '.stacks[] | select(.health == "in-progress") | .stack')
  if ((${#busy[@]} == 0)); then
    log::info "no stack update in progress; nothing to stop"
    return 0
  fi
  rb::bin stack-deploy cancel "${busy[@]}"
}

main "$@"
