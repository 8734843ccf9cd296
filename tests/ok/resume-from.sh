#!/usr/bin/env bash
# Case: green is broken when the application is deployed, so the smoke test after
# deploy-application fails (exit 4) and the deploy stops; once green is fixed the
# printed --from command finishes the deploy without repeating the earlier steps.
# expect-exit: 0
# expect-output: deploy stopped at step 'deploy-application': exit 4 (a check failed)
# expect-output: runbooks/deploy.sh --env rehearsal --yes --from deploy-application
# expect-output: resumed steps: deploy-application deploy-observability dns-cutover validate
# expect-output: weights now: blue=0 green=100 maintenance=0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local code=0
  rh::green fail
  RB_RUN_DIR="${LTC_RUNS_DIR}/first" "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes || code=$?
  [[ "${code}" == 4 ]] || { echo "first run exited ${code}, want 4"; return 1; }
  rh::green ok
  RB_RUN_DIR="${LTC_RUNS_DIR}/resumed" "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes --from deploy-application
  echo "resumed steps: $(cut -f 1 "${LTC_RUNS_DIR}/resumed/timeline.tsv" | paste -sd ' ')"
  echo "weights now: $(rh::weights)"
}

main "$@"
