#!/usr/bin/env bash
# Case: the whole deploy with --dry-run: every binary gets --dry-run and the AWS
# state read with the AWS CLI before and after is the same.
# expect-exit: 0
# expect-output: deploy finished: 8 step(s)
# expect-output: state unchanged
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

state() {
  echo "weights: $(rh::weights)"
  echo "stacks: $(rh::stack_states)"
  echo "services: $(rh::task_definitions)"
  echo "snapshots: $(rh::snapshots)"
  aws_ rds describe-db-instances --query 'DBInstances[].[DBInstanceIdentifier,DBInstanceStatus]' --output text
  aws_ s3api list-object-versions --bucket "${RH_BUCKET}" --query 'Versions[].[Key,VersionId,IsLatest]' --output text
  aws_ cloudfront list-invalidations --distribution-id "${LTC_REHEARSAL_DISTRIBUTION_ID}" --query 'InvalidationList.Quantity'
}

main() {
  local before after
  before="$(state)"
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes --dry-run
  after="$(state)"
  echo "${before}"
  if [[ "${before}" == "${after}" ]]; then echo "state unchanged"; else diff <(echo "${before}") <(echo "${after}"); return 1; fi
}

main "$@"
