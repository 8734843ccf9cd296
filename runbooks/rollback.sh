#!/usr/bin/env bash
# The strategy's "Rollback Procedures", step by step:
#   stop-deployments, divert-traffic, assess       Immediate Response (0-15 min)
#   rollback-database (only with --restore-database), rollback-application,
#   restore-site, rollback-infrastructure          Rollback Execution (15-60 min)
#   validate-rollback                              Post-Rollback Validation
# Usage: runbooks/rollback.sh --env NAME [--run DEPLOY_RUN_ID] [--restore-database]
#          [--dry-run] [--yes] [--from STEP | --only STEP] [--to STEP]
#   Rolls back one deploy run, reading only that run's records (site manifest,
#   snapshot id) from the shared state; default: the newest deploy run, shown
#   first (`run-state runs list --env NAME` lists them).
#   The database is restored only when asked for ("if required"): it loses every
#   write since the pre-deploy snapshot. Outputs go to .ltc/runs/<time>-rollback/.
#   Start, a failed step and the end are notified when NOTIFY_* is set (rb::notify);
#   a notification that cannot be sent is a warning, never a stop.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local args=() restore_db=0
  while (($# > 0)); do
    case "$1" in
      --restore-database) restore_db=1; shift ;;
      --run) (($# >= 2)) || rb::usage_error "--run needs a deploy run id"; ROLLBACK_RUN="$2"; shift 2 ;;
      --run=*) ROLLBACK_RUN="${1#--run=}"; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
  rb::parse_flags "${args[@]}"
  export RB_ROLLBACK=1
  rb::load_env
  RB_RESUME_FLAGS=()
  if rb::rollback_run; then
    log::info "rolling back deploy run ${ROLLBACK_RUN} in ${LTC_ENV_NAME}"
    RB_RESUME_FLAGS=(--run "${ROLLBACK_RUN}")
  fi
  rb::confirm_production "roll back deploy run ${ROLLBACK_RUN:-(none recorded)}"
  ((restore_db == 0)) || RB_RESUME_FLAGS+=(--restore-database)
  if ((restore_db == 0)); then
    RB_SKIP_STEPS="rollback-database" RB_SKIP_REASON="the database is restored only with --restore-database"
  fi
  rb::run_notified rollback "${RB_ROLLBACK_STEPS[@]}"
}

main "$@"
