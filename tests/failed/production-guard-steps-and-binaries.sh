#!/usr/bin/env bash
# Case: the production guard stays strict. Against the seeded world named prod
# (LTC_ENV_NAME=prod), with no --yes and no terminal: every mutating command of
# every binary, and the runbook steps that change something, run one by one, are
# refused (exit 2, "without --yes") and nothing changes: DNS weights, stacks,
# services, snapshots, load balancer rules, site objects and the journal are as
# seeded. The case exits 2 (the refusal) only when all of that holds.
# expect-exit: 2
# expect-output: binaries refused: 12 of 12
# expect-output: steps refused: 5 of 5
# expect-output: world unchanged: yes
# expect-output: journal entries: 0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

world() {
  echo "weights: $(rh::weights)"
  echo "stacks: $(rh::stack_states)"
  echo "services: $(rh::task_definitions)"
  echo "snapshots: $(rh::snapshots)"
  echo "rules: $(rh::lb_rules | md5sum)"
  echo "site: $(aws_ s3api list-object-versions --bucket "${RH_BUCKET}" | jq -c '[.Versions[]? | .Key + "@" + .VersionId] | sort')"
}

# One refused command: exit 2 and the guard's words on stderr.
refused() {
  local code=0 err
  err="$("$@" </dev/null 2>&1 >/dev/null)" || code=$?
  if ((code == 2)) && [[ "${err}" == *"without --yes"* ]]; then
    return 0
  fi
  echo "NOT REFUSED (exit ${code}): $*" >&2
  echo "${err}" | tail -n 3 >&2
  return 1
}

main() {
  local bin="${LTC_BIN_DIR}" before after n=0 ok=0 file cmd all=1
  export LTC_ENV=prod
  local zone listener
  zone="$(rh::zone_id)"
  listener="${LTC_REHEARSAL_LB_LISTENER_ARN}"
  before="$(world)"
  local cmds=(
    "dns-shift shift --zone ${zone} --record ${RH_RECORD} --to green --steps 100 --bake 0s"
    "dns-shift set --zone ${zone} --record ${RH_RECORD} --weight blue=0 --weight green=100"
    "lb-switch maintenance on --listener ${listener} --body ${LTC_ROOT}/env/rehearsal.maintenance.html"
    "lb-switch shift --listener ${listener} --to ${RH_TG_GREEN} --steps 100 --bake 0s"
    "ecs-revert scale --cluster ${RH_CLUSTER} --service ltc-api --desired 1"
    "ecs-revert revert --cluster ${RH_CLUSTER} --service ltc-api --to 1"
    "ecs-revert scaling suspend --cluster ${RH_CLUSTER} --service ltc-api"
    "db-snapshot create --instance ${RH_DB} --snapshot-id pre-deploy-guard-1"
    "db-snapshot restore --instance ${RH_DB} --snapshot latest --target ltc-db-guard"
    "site-restore restore --bucket ${RH_BUCKET} --at 2000-01-01T00:00:00Z"
    "stack-deploy deploy --app ${LTC_ROOT}/fixtures/cdk.out --method direct LightningTalk-Security-prod"
    "dns-shift maintenance on --zone ${zone} --record ${RH_RECORD}"
  )
  for cmd in "${cmds[@]}"; do
    n=$((n + 1))
    # shellcheck disable=SC2086  # each entry is a command line of plain words
    refused "${bin}/"${cmd} --env prod && ok=$((ok + 1))
  done
  echo "binaries refused: ${ok} of ${n}"
  ((ok == n)) || all=0

  # Runbook steps, each run on its own (no deploy.sh confirmation in front of them).
  local env_file="${RH_DIR}/guard-prod.env"
  sed 's/^LTC_ENV_NAME=.*/LTC_ENV_NAME=prod/' "${LTC_ROOT}/env/rehearsal.env" >"${env_file}"
  n=0 ok=0
  for file in backup-database deploy-foundation deploy-application dns-cutover divert-traffic; do
    n=$((n + 1))
    local code=0 log="${RH_DIR}/guard-${file}.log"
    LTC_ENV_FILE="${env_file}" LTC_RUN_ID="guard-${file}" "${LTC_ROOT}/runbooks/${file}.sh" --env rehearsal \
      </dev/null >"${log}" 2>&1 || code=$?
    if ((code == 2)) && grep -q 'without --yes' "${log}"; then
      ok=$((ok + 1))
    else
      echo "step ${file}: exit ${code}" >&2
      tail -n 5 "${log}" >&2
    fi
  done
  echo "steps refused: ${ok} of ${n}"
  ((ok == n)) || all=0

  after="$(world)"
  if [[ "${before}" == "${after}" ]]; then
    echo "world unchanged: yes"
  else
    echo "world unchanged: no"
    all=0
    diff <(echo "${before}") <(echo "${after}") || true
  fi
  local entries
  entries="$(wc -l <"${LTC_JOURNAL}")"
  echo "journal entries: ${entries}"
  ((entries == 0)) || all=0
  # 2: every command was refused as it must be; 1: something was not.
  ((all == 1)) && exit 2
  exit 1
}

main "$@"
