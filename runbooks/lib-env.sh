#!/usr/bin/env bash
# The one validation of an environment's settings (env/NAME.env), run by
# rb::load_env before every step and alone by runbooks/check-env.sh. A setting that
# is missing or empty would otherwise silently drop part of a run (no alarm gate, no
# ECS service restored, a phase with no stacks). Source it; do not run it.
# shellcheck disable=SC2034  # the lists are read by the scripts sourcing this file

# Scalars every step needs.
RB_ENV_REQUIRED=(LTC_ENV_NAME AWS_REGION ZONE RECORD SET_OLD SET_NEW SET_MAINTENANCE
  CUTOVER_STEPS CUTOVER_BAKE ECS_CLUSTER DB_INSTANCE DB_SNAPSHOT_PREFIX SITE_BUCKET
  ASSEMBLY_DIR CHECKS_FILE OLD_URL NEW_URL)
# Arrays that must hold at least one element.
RB_ENV_REQUIRED_ARRAYS=(ALARMS ECS_SERVICES ECS_DESIRED FOUNDATION_STACKS
  APPLICATION_STACKS OBSERVABILITY_STACKS)
# Arrays that may be empty but must be declared as arrays (steps expand them).
RB_ENV_OPTIONAL_ARRAYS=(STACK_DEPLOY_ARGS LOAD_ARGS RELEASE_HOOK)

# rb::env_problem FILE: the first problem of the settings already sourced into this
# shell, as one line naming the variable; nothing when they are complete.
rb::env_problem() {
  local file="$1" name decl item
  for name in "${RB_ENV_REQUIRED[@]}"; do
    [[ -n "${!name:-}" ]] || { echo "${file}: ${name} is not set"; return; }
  done
  for name in "${RB_ENV_REQUIRED_ARRAYS[@]}" "${RB_ENV_OPTIONAL_ARRAYS[@]}"; do
    decl="$(declare -p "${name}" 2>/dev/null)" || {
      echo "${file}: ${name} is not set (an array: ${name}=(...))"
      return
    }
    [[ "${decl}" == "declare -a"* ]] || { echo "${file}: ${name} must be an array: ${name}=(...)"; return; }
  done
  for name in "${RB_ENV_REQUIRED_ARRAYS[@]}"; do
    local -n arr="${name}"
    ((${#arr[@]} > 0)) || { echo "${file}: ${name} is empty; it needs at least one element"; return; }
    for item in "${arr[@]}"; do
      [[ -n "${item}" ]] || { echo "${file}: ${name} has an empty element"; return; }
    done
    unset -n arr
  done
  for item in "${ECS_DESIRED[@]}"; do
    [[ "${item}" =~ ^[^=]+=[0-9]+$ ]] || { echo "${file}: ECS_DESIRED element '${item}' is not SERVICE=COUNT"; return; }
  done
  for name in OLD_URL NEW_URL; do
    [[ "${!name}" =~ ^https?://[^/]+ ]] || { echo "${file}: ${name} '${!name}' is not an http(s) URL"; return; }
  done
  [[ "${HEALTH_CHECK:-0}" =~ ^[01]$ ]] || { echo "${file}: HEALTH_CHECK must be 0 or 1, not '${HEALTH_CHECK}'"; return; }
  [[ "${CERT_MIN_DAYS:-14}" =~ ^[0-9]+$ ]] || { echo "${file}: CERT_MIN_DAYS must be a number of days, not '${CERT_MIN_DAYS}'"; return; }
  [[ "${PROBE_INTERVAL:-100ms}" =~ ^[0-9]+(ms|s)$ ]] || { echo "${file}: PROBE_INTERVAL must be like 100ms, not '${PROBE_INTERVAL}'"; return; }
  # The load balancer (lb-switch; all optional): the listener divert-traffic puts into
  # maintenance, what it answers with, and the target groups whose health is checked.
  local arn_re='^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:'
  if [[ -n "${LB_LISTENER_ARN:-}" ]]; then
    [[ "${LB_LISTENER_ARN}" =~ ${arn_re}listener/(app|net)/[^/]+/[^/]+/[^/]+$ ]] ||
      { echo "${file}: LB_LISTENER_ARN '${LB_LISTENER_ARN}' is not a listener ARN"; return; }
    if [[ -z "${LB_MAINTENANCE_TG:-}" ]]; then
      [[ -n "${MAINTENANCE_BODY_FILE:-}" ]] ||
        { echo "${file}: LB_LISTENER_ARN is set but neither MAINTENANCE_BODY_FILE (the page) nor LB_MAINTENANCE_TG is"; return; }
      [[ -f "${MAINTENANCE_BODY_FILE}" ]] || { echo "${file}: MAINTENANCE_BODY_FILE ${MAINTENANCE_BODY_FILE} does not exist"; return; }
      (($(wc -c <"${MAINTENANCE_BODY_FILE}") <= 1024)) ||
        { echo "${file}: MAINTENANCE_BODY_FILE ${MAINTENANCE_BODY_FILE} is over 1024 bytes, the load balancer's limit for a fixed response"; return; }
    fi
  fi
  for name in LB_TARGET_GROUP_OLD LB_TARGET_GROUP_NEW; do
    [[ -z "${!name:-}" || "${!name}" =~ ${arn_re}targetgroup/[^/]+/[^/]+$ ]] ||
      { echo "${file}: ${name} '${!name}' is not a target group ARN"; return; }
  done
  [[ "${LB_MIN_HEALTHY:-100%}" =~ ^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$ ]] ||
    { echo "${file}: LB_MIN_HEALTHY must be a share like 100% or 50%, not '${LB_MIN_HEALTHY}'"; return; }
  if [[ ! -f "${CHECKS_FILE}" ]]; then
    echo "${file}: CHECKS_FILE ${CHECKS_FILE} does not exist$([[ ! -f "${CHECKS_FILE}.example" ]] || echo " (copy ${CHECKS_FILE}.example)")"
    return
  fi
  rb::notify_env_problem "${file}" || return 0
  # A rollback must not be blocked by a missing release assembly (RB_ROLLBACK=1).
  [[ "${RB_ROLLBACK:-0}" == 1 || -f "${ASSEMBLY_DIR}/manifest.json" ]] ||
    echo "${file}: ASSEMBLY_DIR ${ASSEMBLY_DIR} holds no cloud assembly (manifest.json): the release's \`cdk synth\` output"
}

# rb::notify_env_problem FILE: the optional NOTIFY_* settings (rb::notify), checked
# when set; prints the problem and returns 1. A rollback is never blocked by them:
# there the problem is a warning and the rollback goes on without notifications.
# The webhook URL itself is never printed (it is a secret).
rb::notify_env_problem() {
  local file="$1" problem="" var="${NOTIFY_WEBHOOK_URL_ENV:-}"
  if [[ -n "${NOTIFY_SNS_TOPIC_ARN:-}" &&
    ! "${NOTIFY_SNS_TOPIC_ARN}" =~ ^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$ ]]; then
    problem="NOTIFY_SNS_TOPIC_ARN '${NOTIFY_SNS_TOPIC_ARN}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
  elif [[ -n "${var}" && ! "${var}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    problem="NOTIFY_WEBHOOK_URL_ENV '${var}' is not a variable name (it names the variable that holds the URL)"
  elif [[ -n "${var}" && -z "${!var:-}" ]]; then
    problem="NOTIFY_WEBHOOK_URL_ENV names ${var}, which is not set: export ${var}=https://... (the webhook URL)"
  elif [[ -n "${var}" && ! "${!var}" =~ ^https?://[^/[:space:]]+ ]]; then
    problem="${var} (NOTIFY_WEBHOOK_URL_ENV) does not hold an http(s) URL (value not shown)"
  elif [[ -n "${NOTIFY_TIMEOUT:-}" && ! "${NOTIFY_TIMEOUT}" =~ ^[0-9]+(ms|s)$ ]]; then
    problem="NOTIFY_TIMEOUT must be like 5s or 500ms, not '${NOTIFY_TIMEOUT}'"
  fi
  [[ -n "${problem}" ]] || return 0
  if [[ "${RB_ROLLBACK:-0}" == 1 ]]; then
    log::warn "${file}: ${problem}; the rollback goes on without notifications"
    return 0
  fi
  echo "${file}: ${problem}"
  return 1
}

# rb::check_env FILE: after `source FILE`, validates the settings; on a problem prints
# it as one error line and returns 2 (the usage exit code), else returns 0.
rb::check_env() {
  local problem
  problem="$(rb::env_problem "$1")"
  [[ -z "${problem}" ]] && return 0
  log::error "${problem}"
  return 2
}
