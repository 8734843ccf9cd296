#!/usr/bin/env bash
# The run report: report.html in the run folder (`run-state report`), written at
# the end of deploy.sh and rollback.sh whether the run succeeded or failed.
# Sourced by runbooks/lib.sh; do not run it.

# rb::report EXIT_CODE: writes the run's report.html and logs its path. Never
# fails the runbook and never changes its exit code: a report that cannot be
# written is a warning. No-op before the run folder exists.
rb::report() {
  local code="${1:-}" out err bin="${LTC_BIN_DIR:-${CARGO_TARGET_DIR:-${LTC_ROOT}/target}/debug}/run-state"
  [[ -n "${RB_RUN_DIR:-}" && -d "${RB_RUN_DIR}" && -n "${LTC_RUN_ID:-}" ]] || return 0
  if [[ ! -x "${bin}" ]]; then
    log::warn "no run report: ${bin} is missing"
    return 0
  fi
  local args=(report --run "${LTC_RUN_ID}" --run-dir "${RB_RUN_DIR}" --output json)
  [[ ! "${code}" =~ ^[0-9]+$ ]] || args+=(--exit-code "${code}")
  [[ -z "${LTC_ENV_NAME:-}" ]] || args+=(--env "${LTC_ENV_NAME}")
  err="$(mktemp)"
  if out="$(timeout -k 2 60 "${bin}" "${args[@]}" 2>"${err}")"; then
    log::info "run report: $(jq -r '.path' <<<"${out}" 2>/dev/null || echo "${RB_RUN_DIR}/report.html")"
  else
    log::warn "run report NOT written: $(tail -n 1 "${err}" 2>/dev/null || true)"
  fi
  rm -f "${err}"
  return 0
}
