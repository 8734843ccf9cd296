#!/usr/bin/env bash
# Strategy step: Deployment Day, T-0 "Begin Deployment": the foundation stacks
# (Database, Security) in parallel, waiting for each (stack-deploy deploy). First a
# change-set preview (stack-deploy plan --changes): the foundation holds the database,
# and a release that would replace or remove a resource there (a replaced RDS instance
# starts empty) stops here with exit 4, unless ALLOW_REPLACE=1 in the environment.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

preview() {
  local guard=(--fail-on-replace)
  [[ "${ALLOW_REPLACE:-0}" != 1 ]] || guard=()
  rb::bin stack-deploy plan --app "${ASSEMBLY_DIR}" "${FOUNDATION_STACKS[@]}" --changes "${guard[@]}"
}

main() {
  rb::step_init deploy-foundation "$@"
  preview
  rb::bin stack-deploy deploy --app "${ASSEMBLY_DIR}" "${FOUNDATION_STACKS[@]}" \
    --concurrency "${#FOUNDATION_STACKS[@]}" "${STACK_DEPLOY_ARGS[@]}"
}

main "$@"
