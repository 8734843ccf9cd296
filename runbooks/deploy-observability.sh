#!/usr/bin/env bash
# Strategy step: Deployment Day, T+60 "Observability and Final Setup": the Monitoring,
# Observability and DisasterRecovery stacks in parallel, then smoke tests on all
# functionality of the new release.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init deploy-observability "$@"
  rb::bin stack-deploy deploy --app "${ASSEMBLY_DIR}" "${OBSERVABILITY_STACKS[@]}" \
    --concurrency "${#OBSERVABILITY_STACKS[@]}" "${STACK_DEPLOY_ARGS[@]}"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${NEW_URL}"
}

main "$@"
