#!/usr/bin/env bash
# Case (issue 19): deploy-application records each ECS service's auto scaling before
# it deploys; someone then widens ltc-api's limits and suspends its scaling; the
# rollback reverts the services (suspending scaling during the revert), restores the
# scalable target as the deploy recorded it, and both validations show it. Every end
# state is read independently with the AWS CLI. (The seeded world registers every
# service's scalable target at 2-6; the case sets ltc-api's again to be explicit.)
# expect-exit: 0
# expect-output: before the deploy: min 2 max 6 suspended in=false out=false scheduled=false
# expect-output: changed after the deploy: min 4 max 12 suspended in=true out=true scheduled=false
# expect-output: after the rollback: min 2 max 6 suspended in=false out=false scheduled=false
# expect-output: auto scaling ltc-api: min 2 max 6, suspended none
# expect-output: auto scaling ltc-worker: min 2 max 6, suspended none
# expect-output: scaling record of the deploy: scaling-ltc-rehearsal.json
# expect-output: journal: ecs.scaling.restore ok
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly API_TARGET="service/${RH_CLUSTER}/ltc-api"

register() {
  aws_ application-autoscaling register-scalable-target --service-namespace ecs \
    --scalable-dimension ecs:service:DesiredCount --resource-id "${API_TARGET}" "$@" >/dev/null
}

api_target() {
  aws_ application-autoscaling describe-scalable-targets --service-namespace ecs \
    --resource-ids "${API_TARGET}" |
    jq -r '.ScalableTargets[0] | "min \(.MinCapacity) max \(.MaxCapacity) suspended in=\(.SuspendedState.DynamicScalingInSuspended // false) out=\(.SuspendedState.DynamicScalingOutSuspended // false) scheduled=\(.SuspendedState.ScheduledScalingSuspended // false)"'
}

main() {
  register --min-capacity 2 --max-capacity 6 \
    --role-arn "arn:aws:iam::123456789012:role/ecs-autoscaling"
  echo "before the deploy: $(api_target)"
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  local run
  run="$("${LTC_BIN_DIR}/run-state" runs last deploy --env rehearsal --output json | jq -r .run_id)"
  echo "scaling record of the deploy: $("${LTC_BIN_DIR}/run-state" runs get "${run}" scaling-ltc-rehearsal.json --env rehearsal >/dev/null && echo scaling-ltc-rehearsal.json)"

  register --min-capacity 4 --max-capacity 12 \
    --suspended-state DynamicScalingInSuspended=true,DynamicScalingOutSuspended=true,ScheduledScalingSuspended=false
  echo "changed after the deploy: $(api_target)"

  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --restore-database
  echo "after the rollback: $(api_target)"
  echo "journal: $(jq -r 'select(.action == "ecs.scaling.restore" and .phase == "outcome") | "\(.action) \(.outcome)"' "${LTC_JOURNAL}" | tail -n 1)"
}

main "$@"
