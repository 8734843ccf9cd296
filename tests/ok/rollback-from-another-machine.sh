#!/usr/bin/env bash
# Case (issue 15): machine A deploys; machine B (its own journal and run folders, the
# same S3 state prefix) sees A's run, undoes A's last DNS change from A's journal,
# and rolls back A's deploy by run id, reading only that run's records.
# expect-output: B sees A's deploy run: yes
# expect-output: B's undo read A's journal entry: yes
# expect-output: after B's rollback: weights blue=100 green=0 maintenance=0, site v1 same, db restored yes
# expect-output: A's local journal has no entry of B: yes
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

# A command as machine M (a or b): its own journal and run folders.
as() {
  local m="$1"
  shift
  env LTC_JOURNAL="${RH_DIR}/machine-${m}/journal.jsonl" LTC_RUNS_DIR="${RH_DIR}/machine-${m}/runs" "$@"
}

main() {
  aws_ s3 mb s3://ltc-case-state >/dev/null
  export LTC_STATE=s3://ltc-case-state/team
  as a "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  local run
  run="$(as b "${LTC_BIN_DIR}/run-state" runs last deploy --env rehearsal --output json | jq -r .run_id)"
  echo "B sees A's deploy run: $([[ -n "${run}" && -d "${RH_DIR}/machine-a/runs/${run}" ]] && echo yes || echo no) (${run})"

  local undo
  undo="$(as b "${LTC_BIN_DIR}/dns-shift" undo --zone "${RH_ZONE_NAME}" --record "${RH_RECORD}" --env rehearsal --yes --output json)"
  echo "undo: $(jq -c '{before, after}' <<<"${undo}")"
  echo "B's undo read A's journal entry: $([[ "$(rh::weights)" != "blue=0 green=100 maintenance=0" ]] && echo yes || echo no)"

  as b "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --restore-database --run "${run}"
  rh::write_release "${RH_DIR}/want-site" 1.9.0
  printf 'console.log("v1");\n' >"${RH_DIR}/want-site/app.js"
  printf '<h1>About (v1)</h1>\n' >"${RH_DIR}/want-site/about.html"
  local created
  created="$(aws_ rds describe-db-instances --db-instance-identifier "${RH_DB}" --query 'DBInstances[0].InstanceCreateTime' --output text)"
  echo "after B's rollback: weights $(rh::weights), site v1 $(rh::site_matches "${RH_DIR}/want-site"), db restored $([[ "${created}" != "${RH_DB_CREATED}" ]] && echo yes || echo no)"
  echo "A's local journal has no entry of B: $(grep -q '"binary":"run-state"\|rollback' "${RH_DIR}/machine-a/journal.jsonl" && echo no || echo yes)"
}

main "$@"
