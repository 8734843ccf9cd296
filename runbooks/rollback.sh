#!/usr/bin/env bash
# The strategy's "Rollback Procedures", step by step:
#   stop-deployments, divert-traffic, assess       Immediate Response (0-15 min)
#   rollback-database (only with --restore-database), rollback-application,
#   restore-site, rollback-infrastructure          Rollback Execution (15-60 min)
#   validate-rollback                              Post-Rollback Validation
# Usage: runbooks/rollback.sh --env NAME [--restore-database] [--dry-run] [--yes]
#          [--from STEP | --only STEP] [--to STEP]
#   The database is restored only when asked for ("if required"): it loses every
#   write since the pre-deploy snapshot. Outputs go to .ltc/runs/<time>-rollback/.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local args=() restore_db=0 a
  for a in "$@"; do
    if [[ "${a}" == --restore-database ]]; then restore_db=1; else args+=("${a}"); fi
  done
  rb::parse_flags "${args[@]}"
  rb::load_env
  rb::confirm_production "roll back"
  RB_RESUME_FLAGS=()
  ((restore_db == 0)) || RB_RESUME_FLAGS=(--restore-database)
  if ((restore_db == 0)); then
    RB_SKIP_STEPS="rollback-database" RB_SKIP_REASON="the database is restored only with --restore-database"
  fi
  rb::run_steps rollback "${RB_ROLLBACK_STEPS[@]}"
}

main "$@"
