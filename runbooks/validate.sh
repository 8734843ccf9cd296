#!/usr/bin/env bash
# Strategy step: Deployment Day, T+120 "Post-Deployment Validation": the full smoke
# suite against the new release, a short load check against the strategy's thresholds
# (smoke-test defaults: error rate 5 %, P95 2000 ms critical), every stack complete
# (stack-deploy status), and no critical alarm in ALARM.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# No binary reads alarms on their own yet (dns-shift only gates on them), so this
# one read goes through the AWS CLI.
check_alarms() {
  local pattern found=() names
  for pattern in "${ALARMS[@]}"; do
    local select=(--alarm-names "${pattern}")
    [[ "${pattern}" != *'*' ]] || select=(--alarm-name-prefix "${pattern%\*}")
    # The state is filtered here too: moto ignores --state-value next to a prefix.
    names="$("${AWS_CLI:-aws}" cloudwatch describe-alarms --state-value ALARM "${select[@]}" \
      --query "MetricAlarms[?StateValue=='ALARM'].AlarmName" --output text)"
    [[ -z "${names}" || "${names}" == None ]] || found+=("${names}")
  done
  if ((${#found[@]} > 0)); then
    log::error "alarms in ALARM: ${found[*]}"
    exit 4
  fi
  log::info "no critical alarm in ALARM (${ALARMS[*]})"
}

main() {
  rb::step_init validate "$@"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${NEW_URL}"
  rb::bin smoke-test load "${CHECKS_FILE}" --base-url "${NEW_URL}" "${LOAD_ARGS[@]}"
  if ((RB_DRY_RUN)); then
    # A dry-run deploy created nothing, so stacks may be missing: report, do not fail.
    rb::bin_allowing 4 stack-deploy status --app "${ASSEMBLY_DIR}" --all
  else
    rb::bin stack-deploy status --app "${ASSEMBLY_DIR}" --all
  fi
  check_alarms
}

main "$@"
