#!/usr/bin/env bash
# Case: the DNS cutover runs a downtime probe against both origins from before the
# shift until after it; with both origins healthy it reports no failed request,
# and its summary is saved in the run folder.
# expect-exit: 0
# expect-output: downtime probe:
# expect-output: 0 failed, longest gap 0 ms
# expect-output: probe summary saved: green must serve, 0 failed
# expect-output: weights after: blue=0 green=100 maintenance=0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  export RB_RUN_DIR="${LTC_RUNS_DIR}/cutover"
  "${LTC_ROOT}/runbooks/dns-cutover.sh" --env rehearsal --yes
  jq -r '.urls[] | select(.expect_serving) | "probe summary saved: green must serve, \(.failures) failed"' \
    "${RB_RUN_DIR}/dns-cutover.probe-summary.json"
  echo "weights after: $(rh::weights)"
}

main "$@"
