#!/usr/bin/env bash
# Case (issue 21): a release that deploys cleanly (every stack UPDATE_COMPLETE) but is
# bad (a wrong database endpoint, a stray queue in every stack) is reverted by its run
# id with rollback-infrastructure alone; every stack's template, read back with the AWS
# CLI, equals the one before the release, and the endpoint parameter is the old one.
# expect-output: after the release: 7 UPDATE_COMPLETE
# expect-output: endpoint during the release: bad-release
# expect-output: templates equal to before the release: 7 of 7
# expect-output: endpoint after the revert: ltc-db.prod.internal:5432
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly STACKS=(Database Security Api StaticSite Monitoring Observability DisasterRecovery)

# Every stack's original template, one sorted JSON document per line.
templates() {
  local s
  for s in "${STACKS[@]}"; do
    aws_ cloudformation get-template --stack-name "LightningTalk-${s}-prod" --template-stage Original |
      jq -cS .TemplateBody
  done
}

endpoint() {
  aws_ ssm get-parameter --name /ltc/prod/db/endpoint | jq -r .Parameter.Value
}

main() {
  # The infrastructure before the release: the fixture, deployed as it is.
  "${LTC_BIN_DIR}/stack-deploy" deploy --app "${LTC_ROOT}/fixtures/cdk.out" --all \
    --method direct --env rehearsal --yes --output json >/dev/null
  templates >"${RH_DIR}/templates-before.jsonl"

  # The bad release: every template gains a queue, the Database stack's endpoint
  # parameter a wrong value. It deploys cleanly.
  local release s file run
  release="$(mktemp -d)"
  cp -r "${LTC_ROOT}/fixtures/cdk.out/." "${release}/"
  for s in "${STACKS[@]}"; do
    file="LightningTalk-${s}-prod.template.json"
    jq '.Resources.BadReleaseQueue = {"Type": "AWS::SQS::Queue"}
      | .Resources |= with_entries(if .value.Type == "AWS::SSM::Parameter" and (.value.Properties.Name // "") == "/ltc/prod/db/endpoint"
          then .value.Properties.Value = "bad-release" else . end)' \
      "${LTC_ROOT}/fixtures/cdk.out/${file}" >"${release}/${file}"
  done
  run="$(date -u +%Y%m%dT%H%M%S.%3NZ)-deploy-bad001"
  LTC_RUN_ID="${run}" LTC_REHEARSAL_ASSEMBLY="${release}" "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  echo "after the release: $(rh::stack_states)"
  echo "endpoint during the release: $(endpoint)"

  LTC_REHEARSAL_ASSEMBLY="${release}" "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes \
    --run "${run}" --only rollback-infrastructure
  templates >"${RH_DIR}/templates-after.jsonl"
  local same
  same="$(awk 'NR == FNR { want[FNR] = $0; next } $0 == want[FNR] { n++ } END { print n + 0 }' \
    "${RH_DIR}/templates-before.jsonl" "${RH_DIR}/templates-after.jsonl")"
  echo "templates equal to before the release: ${same} of ${#STACKS[@]}"
  echo "endpoint after the revert: $(endpoint)"
  rm -rf "${release}"
}

main "$@"
