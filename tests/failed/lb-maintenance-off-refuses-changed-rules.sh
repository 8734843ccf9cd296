#!/usr/bin/env bash
# Case (issue 19): divert-traffic put the listener into maintenance; then someone adds
# a rule in front of it (an /admin/* 403). validate-rollback checks the previous
# release's target health, then `lb-switch maintenance off` refuses to restore over
# the change: the step exits 4 naming the difference, and changes nothing: the
# listener's rules (read with the AWS CLI) are as the colleague left them and DNS
# stays 100 % on maintenance.
# expect-exit: 4
# expect-output: target health ltc-blue: 2/2 healthy
# expect-output: changed since the diversion: rule
# expect-output: (priority 5, fixed-response 403) was added
# expect-output: step validate-rollback failed: exit 4
# expect-output: listener rules unchanged by the refused step: yes
# expect-output: weights still: blue=0 green=0 maintenance=100
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  "${LTC_ROOT}/runbooks/divert-traffic.sh" --env rehearsal --yes
  aws_ elbv2 create-rule --listener-arn "${LTC_REHEARSAL_LB_LISTENER_ARN}" --priority 5 \
    --conditions "Field=path-pattern,Values=/admin/*" \
    --actions 'Type=fixed-response,FixedResponseConfig={StatusCode=403,ContentType=text/plain,MessageBody=closed}' >/dev/null
  local before="${RH_DIR}/case-rules-changed.jsonl" code=0
  rh::lb_rules >"${before}"
  "${LTC_ROOT}/runbooks/validate-rollback.sh" --env rehearsal --yes || code=$?
  echo "listener rules unchanged by the refused step: $(cmp -s "${before}" <(rh::lb_rules) && echo yes || echo no)"
  echo "weights still: $(rh::weights)"
  return "${code}"
}

main "$@"
