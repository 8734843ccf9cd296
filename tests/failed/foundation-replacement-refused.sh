#!/usr/bin/env bash
# Case: the foundation is deployed; the next release drops a resource from the
# Database stack. deploy-foundation's change-set preview sees the removal, stops
# with exit 4 before anything is deployed, and the stack keeps the resource.
# expect-exit: 4
# expect-output: first deploy-foundation: exit 0
# expect-output: would be replaced or removed: LightningTalk-Database-prod: BackupBucket26B8E51C (AWS::S3::Bucket) removed
# expect-output: resources after: BackupBucket26B8E51C DbEndpoint7CDA2A80
# expect-output: change sets left: 0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  local code=0 release db=LightningTalk-Database-prod
  export RB_RUN_DIR="${LTC_RUNS_DIR}/first"
  "${LTC_ROOT}/runbooks/deploy-foundation.sh" --env rehearsal --yes
  echo "first deploy-foundation: exit 0"

  release="$(mktemp -d)"
  cp -r "${LTC_ROOT}/fixtures/cdk.out/." "${release}/"
  jq 'del(.Resources.BackupBucket26B8E51C) | del(.Outputs[]? | select(.Value.Ref? == "BackupBucket26B8E51C"))' \
    "${LTC_ROOT}/fixtures/cdk.out/${db}.template.json" >"${release}/${db}.template.json"
  export RB_RUN_DIR="${LTC_RUNS_DIR}/second" LTC_REHEARSAL_ASSEMBLY="${release}"
  "${LTC_ROOT}/runbooks/deploy-foundation.sh" --env rehearsal --yes || code=$?

  echo "resources after: $(aws_ cloudformation describe-stack-resources --stack-name "${db}" |
    jq -r '[.StackResources[].LogicalResourceId] | sort | join(" ")')"
  echo "change sets left: $(aws_ cloudformation list-change-sets --stack-name "${db}" | jq '.Summaries | length')"
  rm -rf "${release}"
  return "${code}"
}

main "$@"
