#!/usr/bin/env bash
# Case (issue 19): the application rollback of a deploy run that has no scaling record
# (made before deploy-application recorded auto scaling): a warning naming the missing
# record, and the rollback goes on (services reverted and scaled).
# expect-exit: 0
# expect-output: auto scaling not restored: run 20200101T000000.000Z-deploy-000000 has no record scaling-ltc-rehearsal.json
# expect-output: services now: ltc-api=ltc-api:1x2 ltc-worker=ltc-worker:1x2
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  ROLLBACK_RUN=20200101T000000.000Z-deploy-000000 \
    "${LTC_ROOT}/runbooks/rollback-application.sh" --env rehearsal --yes
  echo "services now: $(rh::task_definitions)"
}

main "$@"
