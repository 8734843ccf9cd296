#!/usr/bin/env bash
# Strategy step: Post-Deployment, "monitor for 24 hours" (stabilisation): the
# environment's health gates (env/NAME.gates.toml: the strategy's critical
# and warning thresholds) evaluated every INTERVAL by `health-gate watch`, which
# stops with exit 4 at the first sustained breach (FAILURE_LIMIT failed evaluations
# in a row) and exits 0 when the time is up. Read-only: it takes no run lock (a
# rollback must never wait for a 24 h watch), and after a dropped session the same
# command watches again.
#   runbooks/monitor.sh --env prod [--for 24h] [--interval 1m] [--failure-limit 3]
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCH_FOR=24h
WATCH_INTERVAL=1m
WATCH_FAILURE_LIMIT=3

parse_watch_flags() {
  local i
  for ((i = 0; i < ${#RB_REST[@]}; i++)); do
    case "${RB_REST[i]}" in
      --for | --interval | --failure-limit)
        ((i + 1 < ${#RB_REST[@]})) || rb::usage_error "${RB_REST[i]} needs a value"
        case "${RB_REST[i]}" in
          --for) WATCH_FOR="${RB_REST[i + 1]}" ;;
          --interval) WATCH_INTERVAL="${RB_REST[i + 1]}" ;;
          --failure-limit) WATCH_FAILURE_LIMIT="${RB_REST[i + 1]}" ;;
        esac
        i=$((i + 1))
        ;;
      *) rb::usage_error "monitor: unknown argument '${RB_REST[i]}'" ;;
    esac
  done
}

main() {
  RB_STEP=monitor
  rb::parse_flags "$@"
  parse_watch_flags
  rb::load_env
  rb::open_run monitor
  RB_SEQ=0
  local gates="${GATES_FILE:-${LTC_ROOT}/env/${RB_ENV}.gates.toml}"
  [[ -f "${gates}" ]] || rb::usage_error "no gates file for environment '${RB_ENV}': ${gates} (copy env/prod.gates.toml.example)"
  # What the gates file may name as ${VAR}; the optional ones only when set.
  export DB_INSTANCE ECS_CLUSTER
  [[ -z "${ALB_DIMENSION:-}" ]] || export ALB_DIMENSION
  [[ -z "${CACHE_CLUSTER_ID:-}" ]] || export CACHE_CLUSTER_ID
  log::info "== monitor (env ${RB_ENV}, ${WATCH_FOR} every ${WATCH_INTERVAL}, stop after ${WATCH_FAILURE_LIMIT} failed in a row)"
  local code=0
  rb::bin health-gate watch --gates "${gates}" --for "${WATCH_FOR}" \
    --interval "${WATCH_INTERVAL}" --failure-limit "${WATCH_FAILURE_LIMIT}" || code=$?
  case "${code}" in
    0) log::info "monitor: no sustained breach in ${WATCH_FOR}; evaluations in ${RB_LAST_OUT}" ;;
    4) log::error "monitor: sustained breach of a critical gate; consider runbooks/rollback.sh --env ${RB_ENV} (evaluations in ${RB_LAST_OUT})" ;;
    130) log::warn "monitor: interrupted; resume with: runbooks/monitor.sh --env ${RB_ENV} --for <time left>" ;;
  esac
  return "${code}"
}

main "$@"
