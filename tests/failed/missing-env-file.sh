#!/usr/bin/env bash
# Case: an environment without a settings file: exit 2 at once, before any call.
# expect-exit: 2
# expect-output: no settings file for environment 'nowhere'
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  "${LTC_ROOT}/runbooks/deploy.sh" --env nowhere --yes
}

main "$@"
