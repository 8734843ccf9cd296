#!/usr/bin/env bash
# Case (issue 21): a rollback starts while a stack is still being created. Its first
# step, stop-deployments, cannot cancel a create: it waits until the stack settles,
# says what it waits for, and completes instead of stopping the whole rollback.
# The emulator never shows a stack in progress by itself: a create whose resource
# fails (moto 5.2.5: SSM parameter Tags in map form, HTTP 500) leaves the stack
# CREATE_IN_PROGRESS, and an update-stack a few seconds into the wait settles it
# (moto: UPDATE_COMPLETE), standing in for CloudFormation finishing the create.
# expect-exit: 0
# expect-output: before: CREATE_IN_PROGRESS
# expect-output: CREATE_IN_PROGRESS: a create cannot be cancelled; waiting until it settles
# expect-output: rollback finished: 1 step(s)
# expect-output: after: UPDATE_COMPLETE
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly STACK=LightningTalk-Database-prod

stack_status() {
  aws_ cloudformation describe-stacks --stack-name "${STACK}" | jq -r '.Stacks[0].StackStatus'
}

main() {
  local dir settle code=0
  dir="$(mktemp -d)"
  printf '%s' '{"Resources":{"P":{"Type":"AWS::SSM::Parameter","Properties":{"Type":"String","Value":"x","Tags":{"a":"b"}}}}}' >"${dir}/stuck.json"
  printf '%s' '{"Resources":{"T":{"Type":"AWS::SNS::Topic"}}}' >"${dir}/done.json"
  # The failing create answers HTTP 500 (the CLI's retry then AlreadyExists): expected.
  aws_ cloudformation create-stack --stack-name "${STACK}" --template-body "file://${dir}/stuck.json" >/dev/null 2>&1 || true
  echo "before: $(stack_status)"
  (sleep 4 && aws_ cloudformation update-stack --stack-name "${STACK}" --template-body "file://${dir}/done.json" >/dev/null) &
  settle=$!
  LTC_DEADLINE="$(date -u -d '+3 min' +%Y-%m-%dT%H:%M:%SZ)" \
    "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --to stop-deployments || code=$?
  wait "${settle}" || true
  echo "after: $(stack_status)"
  rm -rf "${dir}"
  return "${code}"
}

main "$@"
