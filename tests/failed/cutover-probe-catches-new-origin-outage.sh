#!/usr/bin/env bash
# Case: green fails for a moment during the cutover's bake and recovers before the
# next gate, so every gate passes and the shift completes; the downtime probe saw
# the new origin fail while it had to serve, and fails the step with exit 4.
# expect-exit: 4
# expect-output: the cutover completed, but
# expect-output: (must serve)
# expect-output: step dns-cutover failed: exit 4 (a check failed)
# expect-output: weights after: blue=0 green=100 maintenance=0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local out code=0 pid
  export LTC_REHEARSAL_BAKE=3s RB_RUN_DIR="${LTC_RUNS_DIR}/cutover"
  mkdir -p "${RB_RUN_DIR}"
  "${LTC_ROOT}/runbooks/dns-cutover.sh" --env rehearsal --yes &
  pid=$!
  # After the first step, while it bakes: a short outage of green.
  out="$(rh::wait_first_step "${RB_RUN_DIR}" "${pid}")"
  rh::green fail
  sleep 0.5
  rh::green ok
  wait "${pid}" || code=$?
  echo "weights after: $(rh::weights)"
  return "${code}"
}

main "$@"
