#!/usr/bin/env bash
# Case: the whole deploy runbook against the seeded production; traffic ends on green.
# expect-exit: 0
# expect-output: deploy finished: 8 step(s)
# expect-output: weights now: blue=0 green=100 maintenance=0
# expect-output: stacks now: 7 CREATE_COMPLETE
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  echo "weights now: $(rh::weights)"
  echo "stacks now: $(rh::stack_states)"
}

main "$@"
