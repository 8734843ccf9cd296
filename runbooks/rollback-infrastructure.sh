#!/usr/bin/env bash
# Strategy step: Rollback Execution 3 "Infrastructure Rollback" (if required):
# 1. roll back every stack left in a failed state (stack-deploy rollback:
#    RollbackStack or ContinueUpdateRollback as the state requires);
# 2. "restore previous infrastructure state": when a deploy run is known (--run, else
#    the newest deploy run with records), put back on every stack that run changed the
#    template, parameters and tags recorded before it (stack-deploy revert --run),
#    dependents first. That also undoes a release whose stacks ended UPDATE_COMPLETE.
#    Stacks the run created are left in place (their data) unless
#    DELETE_CREATED_STACKS=1 in the environment.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The flags of STACK_DEPLOY_ARGS a revert takes; never rollback alarms (they are
# firing for the very release being reverted) nor deploy-only ones.
revert_flags() {
  local args=("${STACK_DEPLOY_ARGS[@]}") i
  REVERT_FLAGS=()
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --method | --timeout | --concurrency) REVERT_FLAGS+=("${args[i]}" "${args[i + 1]:-}"); i=$((i + 1)) ;;
      --method=* | --timeout=* | --concurrency=* | --no-assume-role) REVERT_FLAGS+=("${args[i]}") ;;
      *) ;;
    esac
  done
}

rollback_failed() {
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

main() {
  rb::step_init rollback-infrastructure "$@"
  local run=""
  if rb::rollback_run; then run="${ROLLBACK_RUN}"; fi
  rollback_failed
  if [[ -z "${run}" ]]; then
    log::info "no deploy run recorded: no stack state to restore"
    return 0
  fi
  revert_flags
  local extra=()
  # The release's assembly orders the revert (dependents first); without it, the
  # reverse of the order the run recorded the stacks.
  [[ ! -f "${ASSEMBLY_DIR}/manifest.json" ]] || extra+=(--app "${ASSEMBLY_DIR}")
  [[ "${DELETE_CREATED_STACKS:-0}" != 1 ]] || extra+=(--delete-created)
  rb::bin stack-deploy revert --run "${run}" "${extra[@]}" "${REVERT_FLAGS[@]}"
  local left
  left="$(rb::jq -r '.left_in_place | join(" ")')"
  [[ -z "${left}" ]] ||
    log::warn "stacks created by run ${run} left in place (DELETE_CREATED_STACKS=1 deletes them and their data): ${left}"
}

main "$@"
