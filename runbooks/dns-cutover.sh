#!/usr/bin/env bash
# Strategy step: Deployment Day, T+90 "DNS Cutover" with the risk mitigation "Gradual
# Traffic Migration": dns-shift moves the weighted record to the new set step by step;
# before every increase the smoke checks against the new release must pass, the
# environment's health gates must hold (health-gate check: error rate, P95, database
# CPU, ECS ... of runbooks/env/NAME.gates.toml) and no critical alarm may be in ALARM
# (and, with HEALTH_CHECK=1, the new set's Route 53 health check must be healthy).
# A failing gate reverts the weights: exit 6.
# The strategy's "zero downtime" is measured, not assumed: a downtime probe requests
# both origins every PROBE_INTERVAL from before the shift until after it; its summary
# lands in the run folder, and a failed request to the new origin (which must serve
# throughout a completed cutover) fails the step with exit 4.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# probe::start: the probe in the background against OLD_URL and NEW_URL (PROBE_PATH
# appended); PROBE_PID, PROBE_OUT (JSON lines) and PROBE_ERR are set.
probe::start() {
  local path="${PROBE_PATH:-/}" i
  PROBE_OUT="${RB_RUN_DIR}/${RB_STEP}.probe.jsonl"
  PROBE_ERR="${RB_RUN_DIR}/${RB_STEP}.probe.stderr"
  local cmd=("${LTC_BIN_DIR}/smoke-test" probe --url "${OLD_URL%/}${path}" --url "${NEW_URL%/}${path}"
    --expect-serving "${NEW_URL%/}${path}" --interval "${PROBE_INTERVAL:-100ms}" "${RB_BIN_FLAGS[@]}")
  [[ -x "${cmd[0]}" ]] || { log::error "${cmd[0]} is missing: cargo build --workspace --bins, or set LTC_BIN_DIR"; return 2; }
  log::info "\$ $(rb::shell_quote "${cmd[@]}") &"
  "${cmd[@]}" >"${PROBE_OUT}" 2>"${PROBE_ERR}" &
  PROBE_PID=$!
  # Requests flow (and its signal handlers are in) once it says so.
  for ((i = 0; i < 100; i++)); do
    ! grep -q '^probing ' "${PROBE_ERR}" 2>/dev/null || return 0
    kill -0 "${PROBE_PID}" 2>/dev/null || break
    sleep 0.05
  done
  log::error "the downtime probe did not start: $(tail -n 1 "${PROBE_ERR}")"
  return 2
}

# probe::stop: SIGINT to the probe, its summary to the run folder and the log.
# Returns the probe's exit code (4: the new origin failed a request).
probe::stop() {
  local code=0 sum="${RB_RUN_DIR}/${RB_STEP}.probe-summary.json"
  kill -INT "${PROBE_PID}" 2>/dev/null || true
  wait "${PROBE_PID}" || code=$?
  PROBE_PID=""
  if ! tail -n 1 "${PROBE_OUT}" | jq -e 'select(.event == "summary")' >"${sum}" 2>/dev/null; then
    log::error "the downtime probe left no summary (exit ${code}): $(tail -n 1 "${PROBE_ERR}")"
    return $((code == 0 ? 4 : code))
  fi
  log::info "$(jq -r '"downtime probe: \(.requests) requests, \(.failures) failed, longest gap \(.longest_gap_ms) ms"' "${sum}")"
  jq -r '.urls[] | "  \(.url)\(if .expect_serving then " (must serve)" else "" end): \(.requests) requests, \(.failures) failed, longest gap \(.longest_gap_ms) ms\(if .first_failure then ", failures \(.first_failure) .. \(.last_failure)" else "" end)"' \
    "${sum}" | while IFS= read -r line; do log::info "${line}"; done
  log::info "probe summary: ${sum}"
  return "${code}"
}

# The step's EXIT trap while the probe runs: on any way out (a bug, a signal) the
# probe must not outlive the step; then lib.sh's own report.
probe::on_exit() {
  local code=$?
  [[ -z "${PROBE_PID:-}" ]] || kill -INT "${PROBE_PID}" 2>/dev/null || true
  rb::step_exit "${code}"
}

main() {
  rb::step_init dns-cutover "$@"
  local gate health_gate alarm_args=() hc_args=() a code=0 probe_code=0
  gate="$(rb::shell_quote "${LTC_BIN_DIR}/smoke-test" run "${CHECKS_FILE}" --base-url "${NEW_URL}" -q --output text) >&2"
  rb::gates
  health_gate="$(rb::shell_quote "${LTC_BIN_DIR}/health-gate" check --gates "${RB_GATES}" -q --output text) >&2"
  for a in "${ALARMS[@]}"; do alarm_args+=(--alarm "${a}"); done
  [[ "${HEALTH_CHECK:-0}" != 1 ]] || hc_args=(--health-check)
  if ((RB_DRY_RUN == 0)); then
    trap probe::on_exit EXIT
    probe::start
  fi
  # The weights before the shift, kept as this run's record for the rollback and the report.
  rb::bin dns-shift show --zone "${ZONE}" --record "${RECORD}"
  rb::put_record dns-weights.json "${RB_LAST_OUT}"
  rb::bin dns-shift shift --zone "${ZONE}" --record "${RECORD}" --to "${SET_NEW}" \
    --steps "${CUTOVER_STEPS}" --bake "${CUTOVER_BAKE}" --gate-cmd "${gate}" \
    --gate-cmd "${health_gate}" "${alarm_args[@]}" "${hc_args[@]}" || code=$?
  ((RB_DRY_RUN == 0)) || return "${code}"
  probe::stop || probe_code=$?
  # A reverted (6) or otherwise failed shift keeps its own exit code: the new origin
  # failing is then what the gate saw, not news.
  ((code == 0)) || return "${code}"
  if ((probe_code != 0)); then
    log::error "the cutover completed, but ${NEW_URL} failed requests while it had to serve (details in the probe summary)"
  fi
  return "${probe_code}"
}

main "$@"
