#!/usr/bin/env bash
# Case (issue 19): load balancer settings that cannot work are refused by the settings
# check before any step runs or any call is made (exit 2, one line naming the setting):
# a target group ARN as LB_LISTENER_ARN, a maintenance page over the load balancer's
# 1024-byte limit, and a threshold that is not a share. The case exits with the last
# refusal's code after checking each.
# expect-exit: 2
# expect-output: LB_LISTENER_ARN 'arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/ltc-blue/0123456789abcdef' is not a listener ARN
# expect-output: is over 1024 bytes, the load balancer's limit for a fixed response
# expect-output: LB_MIN_HEALTHY must be a share like 100% or 50%, not '101%'
# expect-output: 3 refused with exit 2
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly LISTENER=arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/ltc-rehearsal/0123456789abcdef/0123456789abcdef

# Runs divert-traffic with one settings file; prints its exit code.
divert_with() {
  local code=0
  LTC_ENV_FILE="$1" "${LTC_ROOT}/runbooks/divert-traffic.sh" --env rehearsal --yes || code=$?
  echo "${code}"
}

main() {
  local dir="${RH_DIR}/lb-settings" big codes=()
  mkdir -p "${dir}"
  big="${dir}/big.html"
  head -c 1025 /dev/zero | tr '\0' 'x' >"${big}"
  {
    cat "${LTC_ROOT}/env/rehearsal.env"
    echo "LB_LISTENER_ARN=arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/ltc-blue/0123456789abcdef"
  } >"${dir}/tg-as-listener.env"
  {
    cat "${LTC_ROOT}/env/rehearsal.env"
    echo "LB_LISTENER_ARN=${LISTENER}"
    echo "MAINTENANCE_BODY_FILE=${big}"
  } >"${dir}/big-page.env"
  {
    cat "${LTC_ROOT}/env/rehearsal.env"
    echo "LB_MIN_HEALTHY=101%"
  } >"${dir}/bad-share.env"
  local file
  for file in tg-as-listener big-page bad-share; do
    codes+=("$(divert_with "${dir}/${file}.env")")
  done
  local refused
  refused="$(printf '%s\n' "${codes[@]}" | grep -c '^2$' || true)"
  echo "${refused} refused with exit 2"
  ((refused == 3)) || return 1
  # Nothing ran: no step got as far as its run lock or a binary.
  ! grep -q 'lb-switch\|dns-shift' "${LTC_RUNS_DIR}"/*/transcript.log 2>/dev/null || return 1
  return 2
}

main "$@"
