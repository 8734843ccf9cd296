#!/usr/bin/env bash
# Case: green starts failing after the cutover's first step; the smoke gate catches
# it before the next step, dns-shift reverts to the starting weights (exit 6) and
# the deploy stops there saying how to resume.
# expect-exit: 6
# expect-output: deploy stopped at step 'dns-cutover': exit 6 (the change failed and was reverted cleanly)
# expect-output: runbooks/deploy.sh --env rehearsal --yes --from dns-cutover
# expect-output: weights after: blue=100 green=0 maintenance=0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local out code=0 pid
  export LTC_REHEARSAL_BAKE=2s RB_RUN_DIR="${LTC_RUNS_DIR}/deploy"
  mkdir -p "${RB_RUN_DIR}"
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes &
  pid=$!
  out="$(rh::wait_first_step "${RB_RUN_DIR}" "${pid}")"
  rh::green fail
  wait "${pid}" || code=$?
  rh::green ok
  echo "weights after: $(rh::weights)"
  return "${code}"
}

main "$@"
