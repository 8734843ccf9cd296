#!/usr/bin/env bash
# Case (issue 19): the load balancer step of divert-traffic fails (the settings name a
# listener that does not exist: lb-switch exits 2 after reading it); the DNS step still
# runs, because traffic must come off the release either way, and the step exits with
# the first failure's code. The real listener is untouched (AWS CLI).
# expect-exit: 2
# expect-output: the load balancer step failed (exit 2); diverting in DNS anyway
# expect-output: step divert-traffic failed: exit 2
# expect-output: weights: blue=0 green=0 maintenance=100
# expect-output: real listener unchanged: yes
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local before="${RH_DIR}/case-rules-before.jsonl" code=0 gone
  rh::lb_rules >"${before}"
  # Same load balancer, a listener id that was never created.
  gone="${LTC_REHEARSAL_LB_LISTENER_ARN%/*}/0000000000000000"
  LTC_REHEARSAL_LB_LISTENER_ARN="${gone}" "${LTC_ROOT}/runbooks/divert-traffic.sh" --env rehearsal --yes || code=$?
  echo "weights: $(rh::weights)"
  echo "real listener unchanged: $(cmp -s "${before}" <(rh::lb_rules) && echo yes || echo no)"
  return "${code}"
}

main "$@"
