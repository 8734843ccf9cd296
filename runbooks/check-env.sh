#!/usr/bin/env bash
# Checks an environment's settings (env/NAME.env, or LTC_ENV_FILE) the way
# every step does before it starts: every required variable set, every list
# non-empty, the files it names present. Calls nothing and changes nothing.
# Usage: runbooks/check-env.sh --env NAME
# Exit 0 when complete; exit 2 with one line naming the first missing setting.
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/log.sh"
# shellcheck source=runbooks/lib-env.sh
source "${LTC_ROOT}/runbooks/lib-env.sh"

usage_error() {
  log::error "$*"
  exit 2
}

main() {
  local env="${LTC_RUNBOOK_ENV:-}" file
  while (($# > 0)); do
    case "$1" in
      --env) (($# >= 2)) || usage_error "--env needs a name"; env="$2"; shift 2 ;;
      --env=*) env="${1#--env=}"; shift ;;
      -h | --help) sed -n '2,/^set -E/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
      *) usage_error "unknown argument '$1'" ;;
    esac
  done
  [[ -n "${env}" ]] || usage_error "no environment: pass --env NAME (settings in env/NAME.env)"
  [[ "${env}" =~ ^[A-Za-z0-9_-]+$ ]] || usage_error "bad environment name '${env}'"
  file="${LTC_ENV_FILE:-${LTC_ROOT}/env/${env}.env}"
  [[ -f "${file}" ]] || usage_error "no settings file for environment '${env}': ${file} (copy env/prod.env.example)"
  # shellcheck source=/dev/null  # the settings file is chosen at run time
  source "${file}"
  rb::check_env "${file}" || exit 2
  log::info "settings for '${env}' are complete: ${file}"
}

main "$@"
