#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 3 "Assessment": one report of the stacks,
# services (and the revision each would revert to), traffic weights, and the latest
# pre-deploy snapshot with its age, kept as assessment.json in the run folder.
# Every read is attempted; a failed read is reported, not fatal, so the report is
# as complete as it can be. "Determine if full rollback is necessary" stays a
# human decision: rollback.sh restores the database only with --restore-database.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs one read; on failure warns and leaves the slot empty.
# Runs one read; its JSON is kept even when it exits non-zero (stack-deploy status
# exits 4 for an unhealthy stack, which is part of the assessment).
read_part() {
  local slot="$1" code=0
  shift
  rb::bin "$@" || code=$?
  ((code == 0)) || log::warn "assessment: ${slot}: exit ${code} ($(rb::meaning "${code}"))"
  if [[ -s "${RB_LAST_OUT}" ]] && jq -e . "${RB_LAST_OUT}" >/dev/null 2>&1; then
    parts+=(--slurpfile "${slot}" "${RB_LAST_OUT}")
  else
    parts+=(--argjson "${slot}" '[]')
  fi
}

main() {
  rb::step_init assess "$@"
  local parts=() services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  read_part stacks stack-deploy status --app "${ASSEMBLY_DIR}" --all
  read_part services ecs-revert status --cluster "${ECS_CLUSTER}" "${services[@]}"
  read_part weights dns-shift show --zone "${ZONE}" --record "${RECORD}"
  read_part snapshot db-snapshot latest --instance "${DB_INSTANCE}" --prefix "${DB_SNAPSHOT_PREFIX}"
  local history=()
  for s in "${ECS_SERVICES[@]}"; do
    read_part "history_${s//-/_}" ecs-revert history --cluster "${ECS_CLUSTER}" --service "${s}"
    history+=("\$history_${s//-/_}[0]")
  done
  local report="${RB_RUN_DIR}/assessment.json"
  jq -n "${parts[@]}" "{stacks: \$stacks[0], services: \$services[0], weights: \$weights[0],
    latest_snapshot: \$snapshot[0], history: [$(IFS=,; echo "${history[*]}")]}" >"${report}"
  log::info "assessment: ${report}"
  jq -r '"latest snapshot: \(.latest_snapshot.snapshot_id // "none") (age \(.latest_snapshot.age // "?"))"' "${report}" >&2
}

main "$@"
