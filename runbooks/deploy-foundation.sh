#!/usr/bin/env bash
# Strategy step: Deployment Day, T-0 "Begin Deployment": the foundation stacks
# (Database, Security) in parallel, waiting for each (stack-deploy deploy).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::step_init deploy-foundation "$@"
  rb::bin stack-deploy deploy --app "${ASSEMBLY_DIR}" "${FOUNDATION_STACKS[@]}" \
    --concurrency "${#FOUNDATION_STACKS[@]}" "${STACK_DEPLOY_ARGS[@]}"
}

main "$@"
