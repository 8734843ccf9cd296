#!/usr/bin/env bash
# Case: a completed deploy, then the whole rollback with the database restore:
# traffic on blue, services on the revision before the release, site content and
# database from before the deploy.
# expect-exit: 0
# expect-output: rollback finished: 8 step(s)
# expect-output: weights now: blue=100 green=0 maintenance=0
# expect-output: services now: ltc-api=ltc-api:2x2 ltc-worker=ltc-worker:2x2
# expect-output: site now: same
# expect-output: ltc-db restored: yes
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

main() {
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --restore-database
  echo "weights now: $(rh::weights)"
  echo "services now: $(rh::task_definitions)"
  rh::write_release "${RH_DIR}/want-site" 1.9.0
  printf 'console.log("v1");\n' >"${RH_DIR}/want-site/app.js"
  printf '<h1>About (v1)</h1>\n' >"${RH_DIR}/want-site/about.html"
  echo "site now: $(rh::site_matches "${RH_DIR}/want-site")"
  local id
  id="$(aws_ rds describe-db-instances --db-instance-identifier "${RH_DB}" --query 'DBInstances[0].InstanceCreateTime' --output text)"
  echo "ltc-db restored: $([[ "${id}" != "${RH_DB_CREATED}" ]] && echo yes || echo no)"
}

main "$@"
