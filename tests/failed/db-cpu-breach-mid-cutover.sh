#!/usr/bin/env bash
# Case: the rehearsal's DB-CPU drill. The cutover starts on healthy metrics (the seed
# publishes them); once its first step is live the database CPU is published at 95 %
# (PutMetricData). health-gate, a gate command of dns-shift, fails db-cpu-critical
# before the next increase and dns-shift reverts to the starting weights: exit 6.
# expect-exit: 6
# expect-output: FAILED: 
# expect-output: failed: db-cpu-critical
# expect-output: shift reverted after 
# expect-output: weights after: blue=100 green=0 maintenance=0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local code=0 pid out
  export LTC_REHEARSAL_BAKE=2s RB_RUN_DIR="${LTC_RUNS_DIR}/cutover"
  mkdir -p "${RB_RUN_DIR}"
  "${LTC_ROOT}/runbooks/dns-cutover.sh" --env rehearsal --yes &
  pid=$!
  # The first step is live once dns-shift reports it.
  out="$(rh::wait_first_step "${RB_RUN_DIR}" "${pid}")"
  "${LTC_ROOT}/scripts/rehearsal/put-metrics" db-cpu 95
  wait "${pid}" || code=$?
  jq -r 'select(.event == "summary") | "shift \(.result) after \(.steps_applied) step(s): \(.reason)"' "${out}"
  echo "weights after: $(rh::weights)"
  return "${code}"
}

main "$@"
