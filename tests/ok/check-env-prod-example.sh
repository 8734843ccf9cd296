#!/usr/bin/env bash
# Case: the shipped production and staging settings, copied as an operator would,
# pass runbooks/check-env.sh (every file they name is present); removing any one
# required setting from the copy fails with exit 2 and one line naming it.
# expect-exit: 0
# expect-output: settings for 'prod' are complete
# expect-output: settings for 'staging' are complete
# expect-output: every required setting is named when missing
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=runbooks/lib-env.sh
source "${LTC_ROOT}/runbooks/lib-env.sh"

# check ENV FILE: runs check-env.sh on FILE; prints its stderr; returns its exit code.
# The harness exports some of the settings (AWS_REGION ...): only the file may count.
check() {
  local code=0 unset=() name
  for name in "${RB_ENV_REQUIRED[@]}"; do unset+=(-u "${name}"); done
  env "${unset[@]}" LTC_ENV_FILE="$2" "${LTC_ROOT}/runbooks/check-env.sh" --env "$1" 2>"${WORK}/err" || code=$?
  cat "${WORK}/err"
  return "${code}"
}

main() {
  local env name code lines
  WORK="$(mktemp -d)"
  trap 'rm -rf "${WORK}"' EXIT
  # The release's assembly is given per run (see the settings file).
  export LTC_ASSEMBLY_DIR="${LTC_ROOT}/fixtures/cdk.out"
  for env in prod staging; do
    cp "${LTC_ROOT}/env/${env}.env.example" "${WORK}/${env}.env"
    check "${env}" "${WORK}/${env}.env"
  done
  for name in "${RB_ENV_REQUIRED[@]}" "${RB_ENV_REQUIRED_ARRAYS[@]}"; do
    grep -q "^${name}=" "${WORK}/prod.env" || { echo "prod.env.example has no ${name}"; return 1; }
    sed "/^${name}=/d" "${WORK}/prod.env" >"${WORK}/without.env"
    code=0
    check prod "${WORK}/without.env" >"${WORK}/out" || code=$?
    lines="$(wc -l <"${WORK}/out")"
    if [[ "${code}" != 2 || "${lines}" != 1 ]] || ! grep -qw -- "${name}" "${WORK}/out"; then
      echo "without ${name}: exit ${code}, ${lines} line(s): $(cat "${WORK}/out")"
      return 1
    fi
    echo "without ${name}: $(cat "${WORK}/out")"
  done
  # An empty list is as bad as a missing one.
  sed 's/^ECS_SERVICES=.*/ECS_SERVICES=()/' "${WORK}/prod.env" >"${WORK}/empty.env"
  code=0
  check prod "${WORK}/empty.env" || code=$?
  [[ "${code}" == 2 ]] || { echo "empty ECS_SERVICES: exit ${code}"; return 1; }
  # A checks file that is not there.
  sed 's|^CHECKS_FILE=.*|CHECKS_FILE=/nonexistent/checks.toml|' "${WORK}/prod.env" >"${WORK}/nofile.env"
  code=0
  check prod "${WORK}/nofile.env" || code=$?
  [[ "${code}" == 2 ]] || { echo "missing checks file: exit ${code}"; return 1; }
  echo "every required setting is named when missing"
}

main "$@"
