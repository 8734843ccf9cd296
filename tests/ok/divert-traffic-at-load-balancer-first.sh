#!/usr/bin/env bash
# Case (issue 19): divert-traffic.sh puts the load balancer into maintenance first and
# DNS second. Without LB_LISTENER_ARN it says there is no load balancer step and moves
# only the DNS weights, the listener untouched. With it: the listener's rules before the
# change are the run's record lb-rules.json, the listener's first rule (read with the
# AWS CLI) answers every path with a fixed 503 and the maintenance page, every other
# rule is as before, the DNS weights are 100 % maintenance, and the journal shows the
# load balancer change before the DNS one. (First, validate-rollback with no diversion
# ever made finds nothing to take off the load balancer and leaves the listener alone.)
# expect-exit: 0
# expect-output: the journal holds no maintenance rule put on
# expect-output: validate-rollback before any diversion: listener unchanged: yes
# expect-output: no LB_LISTENER_ARN in the settings: no load balancer step
# expect-output: without a listener: weights blue=0 green=0 maintenance=100, listener unchanged: yes
# expect-output: first rule: path /* -> fixed-response 503 text/html, body = the maintenance page: yes
# expect-output: every other rule as before: yes
# expect-output: weights: blue=0 green=0 maintenance=100
# expect-output: journal order: lb.maintenance-on dns.maintenance-on
# expect-output: lb-rules.json holds the rules before the change: yes
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly PAGE="${LTC_ROOT}/env/rehearsal.maintenance.html"

main() {
  local before="${RH_DIR}/case-rules-before.jsonl" after="${RH_DIR}/case-rules-after.jsonl"
  rh::lb_rules >"${before}"
  "${LTC_ROOT}/runbooks/validate-rollback.sh" --env rehearsal --yes
  echo "validate-rollback before any diversion: listener unchanged: $(cmp -s "${before}" <(rh::lb_rules) && echo yes || echo no)"

  # No load balancer in the settings: DNS only, as before issue 19.
  LTC_REHEARSAL_LB_LISTENER_ARN="" "${LTC_ROOT}/runbooks/divert-traffic.sh" --env rehearsal --yes
  echo "without a listener: weights $(rh::weights), listener unchanged: $(cmp -s "${before}" <(rh::lb_rules) && echo yes || echo no)"
  "${LTC_BIN_DIR}/dns-shift" set --zone "${RH_ZONE_NAME}" --record "${RH_RECORD}" --env rehearsal \
    --weight blue=100 --weight green=0 --weight maintenance=0 --output json >/dev/null
  local mark
  mark="$(wc -l <"${LTC_JOURNAL}")"

  local run="20261202T000000.000Z-divert-lbfirst"
  LTC_RUN_ID="${run}" "${LTC_ROOT}/runbooks/divert-traffic.sh" --env rehearsal --yes
  rh::lb_rules >"${after}"
  local first
  first="$(jq -c 'select(.IsDefault | not)' "${after}" | head -n 1)"
  echo "first rule: $(jq -r --rawfile body "${PAGE}" '
    "path \(.Conditions[0] | (.Values // .PathPatternConfig.Values) | join(",")) -> \(.Actions[0].Type) \(.Actions[0].FixedResponseConfig.StatusCode) \(.Actions[0].FixedResponseConfig.ContentType), body = the maintenance page: \(if .Actions[0].FixedResponseConfig.MessageBody == $body then "yes" else "no" end)"' <<<"${first}")"
  echo "every other rule as before: $(cmp -s "${before}" <(tail -n +2 "${after}") && echo yes || echo no)"
  echo "weights: $(rh::weights)"
  echo "journal order: $(tail -n "+$((mark + 1))" "${LTC_JOURNAL}" | jq -r 'select(.phase == "intent") | .action' | grep -E '^(lb|dns)\.maintenance-on$' | paste -sd ' ')"
  local record
  record="$("${LTC_BIN_DIR}/run-state" runs get "${run}" lb-rules.json --env rehearsal)"
  echo "lb-rules.json holds the rules before the change: $(
    [[ "$(jq -c '[.listeners[0].rules[] | {arn, priority}]' <<<"${record}")" == \
      "$(jq -sc '[.[] | select(.IsDefault | not) | {arn: .RuleArn, priority: (.Priority | tonumber)}]' "${before}")" ]] && echo yes || echo no)"
}

main "$@"
