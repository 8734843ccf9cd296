#!/usr/bin/env bash
# Case: the target account's CDK bootstrap (SSM /cdk-bootstrap/hnb659fds/version) is
# older than the assembly needs: preflight says so at T-4h (exit 4), not the deploy
# at T-0; nothing was changed.
# expect-exit: 4
# expect-output: is bootstrapped at version 5 but the assembly needs 6
# expect-output: step preflight failed: exit 4 (a check failed)
# expect-output: stacks after: none
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local code=0
  aws_ ssm put-parameter --name /cdk-bootstrap/hnb659fds/version --value 5 --type String --overwrite >/dev/null
  RB_RUN_DIR="${LTC_RUNS_DIR}/preflight" "${LTC_ROOT}/runbooks/preflight.sh" --env rehearsal --yes || code=$?
  echo "stacks after: $(rh::stack_states | sed 's/^$/none/')"
  return "${code}"
}

main "$@"
