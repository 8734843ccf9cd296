#!/usr/bin/env bash
# Shared by every runbook step: flags, per-environment settings, the run folder
# (each binary's JSON stdout plus a transcript), exit-code meanings and the line
# that says how to resume. Source it; do not run it.
# shellcheck disable=SC2034  # constants and settings are read by the scripts sourcing this file

# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/log.sh"
# shellcheck source=runbooks/lib-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=runbooks/lib-report.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-report.sh"
# Everything the runbooks write (run folders, binaries' JSON, transcripts, records)
# is private to the operator, with no window where it is not (issue 16).
umask 077

readonly RB_DIR="${LTC_ROOT}/runbooks"
readonly RB_DEPLOY_STEPS=(preflight backup-database record-site deploy-foundation
  deploy-application deploy-observability dns-cutover validate)
readonly RB_ROLLBACK_STEPS=(stop-deployments divert-traffic assess rollback-database
  rollback-application restore-site rollback-infrastructure validate-rollback)

# Where the binaries are, said once on stderr unless the caller chose them: LTC_BIN_DIR
# when set; in a checkout its debug build (cargo build --workspace --bins), or the
# binaries on PATH when it has none; outside a checkout (scripts/install, a release
# archive) the binaries beside the runbooks or else on PATH. Exported for the steps.
rb::find_bin_dir() {
  [[ -z "${LTC_BIN_DIR:-}" ]] || return 0
  local dir="" from="" on_path=""
  on_path="$(command -v run-state 2>/dev/null)" || on_path=""
  if [[ -f "${LTC_ROOT}/Cargo.toml" ]]; then
    dir="${CARGO_TARGET_DIR:-${LTC_ROOT}/target}/debug" from="this checkout's debug build"
    if [[ ! -x "${dir}/run-state" && -n "${on_path}" ]]; then
      dir="$(dirname "${on_path}")" from="PATH; the checkout has no debug build"
    fi
  elif [[ -x "${LTC_ROOT}/run-state" ]]; then
    dir="${LTC_ROOT}" from="the release archive"
  elif [[ -n "${on_path}" ]]; then
    dir="$(dirname "${on_path}")" from="PATH"
  else
    return 0 # rb::bin names what is missing
  fi
  export LTC_BIN_DIR="${dir}"
  log::info "binaries: ${LTC_BIN_DIR} (${from}; LTC_BIN_DIR chooses others)"
}
rb::find_bin_dir

# The meaning of an exit code, from the binaries' own table (`run-state exit-codes`),
# so the runbooks keep no copy of it.
rb::meaning() {
  local bin="${LTC_BIN_DIR:-${CARGO_TARGET_DIR:-${LTC_ROOT}/target}/debug}/run-state" m=""
  [[ -x "${bin}" ]] && m="$("${bin}" exit-codes --output text 2>/dev/null | awk -F '\t' -v c="$1" '$1 == c { print $3 }')"
  echo "${m:-unexpected exit code}"
}

rb::usage_error() {
  log::error "$*"
  exit 2
}

# Command line shared by deploy.sh, rollback.sh and every step script.
# Sets RB_ENV, RB_DRY_RUN, RB_YES; the rest of the arguments end up in RB_REST.
rb::parse_flags() {
  RB_ENV="${LTC_RUNBOOK_ENV:-}" RB_DRY_RUN=0 RB_YES=0 RB_REST=()
  while (($# > 0)); do
    case "$1" in
      --env) (($# >= 2)) || rb::usage_error "--env needs a name"; RB_ENV="$2"; shift 2 ;;
      --env=*) RB_ENV="${1#--env=}"; shift ;;
      --dry-run) RB_DRY_RUN=1; shift ;;
      --yes) RB_YES=1; shift ;;
      -h | --help) sed -n '2,/^set -E/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
      *) RB_REST+=("$1"); shift ;;
    esac
  done
  [[ -n "${RB_ENV}" ]] || rb::usage_error "no environment: pass --env NAME (settings in env/NAME.env)"
}

# Sources env/NAME.env (or LTC_ENV_FILE) and checks what every step needs.
rb::load_env() {
  local file="${LTC_ENV_FILE:-${LTC_ROOT}/env/${RB_ENV}.env}"
  [[ "${RB_ENV}" =~ ^[A-Za-z0-9_-]+$ ]] || rb::usage_error "bad environment name '${RB_ENV}'"
  [[ -f "${file}" ]] || rb::usage_error "no settings file for environment '${RB_ENV}': ${file} (copy env/prod.env.example)"
  # shellcheck source=/dev/null  # the settings file is chosen at run time
  source "${file}"
  RB_ENV_FILE="${file}"
  rb::check_env "${file}" || exit 2
  export AWS_REGION LTC_ENV="${LTC_ENV_NAME}" AWS_EC2_METADATA_DISABLED=true
  # Shared state (run lock, journal, run records): STATE in the settings file, or
  # LTC_STATE from the caller; unset means the folder beside the journal.
  if [[ -n "${LTC_STATE:-${STATE:-}}" ]]; then export LTC_STATE="${LTC_STATE:-${STATE}}"; fi
  if [[ "${REQUIRE_LOOPBACK_ENDPOINT:-0}" == 1 ]]; then
    [[ "${AWS_ENDPOINT_URL:-}" =~ ^https?://(localhost|127\.0\.0\.1)(:[0-9]+)?/?$ ]] ||
      rb::usage_error "environment '${RB_ENV}' only runs against a loopback emulator; AWS_ENDPOINT_URL is '${AWS_ENDPOINT_URL:-}'"
  fi
  LTC_BIN_DIR="${LTC_BIN_DIR:-${CARGO_TARGET_DIR:-${LTC_ROOT}/target}/debug}"
  RB_BIN_FLAGS=(--output json --env "${LTC_ENV_NAME}")
  ((RB_DRY_RUN == 0)) || RB_BIN_FLAGS+=(--dry-run)
  ((RB_YES == 0)) || RB_BIN_FLAGS+=(--yes)
}

rb::is_production() {
  [[ "${LTC_ENV_NAME,,}" =~ ^(prod|production|prd)$ ]]
}

# The one confirmation of a whole runbook in production: type the name back, or --yes.
rb::confirm_production() {
  rb::is_production && ((RB_YES == 0 && RB_DRY_RUN == 0)) || return 0
  [[ -t 0 ]] || rb::usage_error "refusing to $1 in production ('${LTC_ENV_NAME}') without --yes (no terminal to confirm on)"
  local answer
  printf 'About to %s in PRODUCTION (%s). Type the environment name to continue: ' "$1" "${LTC_ENV_NAME}" >&2
  read -r answer
  [[ "${answer}" == "${LTC_ENV_NAME}" ]] || rb::usage_error "confirmation did not match; nothing was changed"
  RB_YES=1
  RB_BIN_FLAGS+=(--yes)
}

# A run id: UTC start to the millisecond, the kind, a random suffix, so two runs
# started in the same second never share an id, a folder or a snapshot name.
rb::new_run_id() {
  printf '%s-%s-%06x\n' "$(date -u +%Y%m%dT%H%M%S.%3NZ)" "$1" "$((SRANDOM & 0xffffff))"
}

# The run folder and run id: reused when a parent runbook exported them, else new.
# Everything on stderr also goes to its transcript.
rb::open_run() {
  local kind="$1"
  export LTC_RUN_ID="${LTC_RUN_ID:-$(rb::new_run_id "${kind}")}"
  RB_RUN_DIR="${RB_RUN_DIR:-${LTC_RUNS_DIR:-${LTC_ROOT}/.ltc/runs}/${LTC_RUN_ID}}"
  (umask 077 && mkdir -p "${RB_RUN_DIR}")
  export RB_RUN_DIR
  if [[ -z "${RB_TRANSCRIPT:-}" ]]; then
    export RB_TRANSCRIPT="${RB_RUN_DIR}/transcript.log"
    # tee ignores Ctrl-C so a binary that is reverting can still be heard.
    exec 2> >(trap '' INT TERM && exec tee -a "${RB_TRANSCRIPT}" >&2)
  fi
}

# Sets up a step script: flags, settings, run folder, and the failure report.
rb::step_init() {
  RB_STEP="$1"
  shift
  rb::parse_flags "$@"
  ((${#RB_REST[@]} == 0)) || rb::usage_error "${RB_STEP}: unknown argument '${RB_REST[0]}'"
  rb::load_env
  rb::open_run "${RB_STEP}"
  RB_SEQ=0
  trap 'rb::step_exit $?' EXIT
  rb::hold_lock step "runbooks/${RB_STEP}.sh"
  log::info "== ${RB_STEP} (env ${RB_ENV}$( ((RB_DRY_RUN == 0)) || echo ", dry run"))"
}

rb::step_exit() {
  local code="$1"
  rb::release_lock
  ((code == 0)) || log::error "step ${RB_STEP} failed: exit ${code} ($(rb::meaning "${code}"))"
}

# Takes the environment's run lock for this run (run-state lock hold, in the
# background, renewing its lease) unless the parent runbook's run holds it.
# Refused (another run holds it, or a deploy in a frozen environment): exit 8
# with the holder named. Dry runs change nothing and take no lock.
# Usage: rb::hold_lock deploy|rollback|step COMMAND
rb::hold_lock() {
  ((RB_DRY_RUN == 0)) || return 0
  [[ "${RB_LOCK_HELD:-}" != "${LTC_RUN_ID}" ]] || return 0
  local out="${RB_RUN_DIR}/lock.$$.jsonl" extra=() i code=0 event
  [[ "$1" != deploy ]] || extra=(--deploy)
  local bin="${LTC_BIN_DIR}/run-state"
  [[ -x "${bin}" ]] || { log::error "${bin} is missing: cargo build --workspace --bins, or set LTC_BIN_DIR"; exit 2; }
  "${bin}" lock hold --run "${LTC_RUN_ID}" --command "$2" --watch-pid "$$" "${extra[@]}" \
    --env "${LTC_ENV_NAME}" --output json >"${out}" 2>"${out%.jsonl}.err" &
  RB_LOCK_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ -s "${out}" ]] && break
    if ! kill -0 "${RB_LOCK_PID}" 2>/dev/null; then
      wait "${RB_LOCK_PID}" || code=$?
      RB_LOCK_PID=""
      ((code != 0)) || code=1
      cat "${out%.jsonl}.err" >&2
      log::error "run lock of ${LTC_ENV_NAME} not taken: exit ${code} ($(rb::meaning "${code}"))"
      exit "${code}"
    fi
    sleep 0.05
  done
  event="$(head -n 1 "${out}" | jq -r '.event // empty')"
  case "${event}" in
    held) export RB_LOCK_HELD="${LTC_RUN_ID}"; log::info "holding the run lock of ${LTC_ENV_NAME} for run ${LTC_RUN_ID}" ;;
    within-run) RB_LOCK_PID="" ;;
    *) log::error "run-state lock hold said '${event}'"; exit 1 ;;
  esac
}

rb::release_lock() {
  if [[ -n "${RB_LOCK_PID:-}" ]]; then
    kill -TERM "${RB_LOCK_PID}" 2>/dev/null || true
    wait "${RB_LOCK_PID}" 2>/dev/null || true
    RB_LOCK_PID=""
  fi
}

# Keeps this run's record NAME (a file) in the shared state, never overwritten.
rb::put_record() {
  ((RB_DRY_RUN == 0)) || return 0
  "${LTC_BIN_DIR}/run-state" runs put "${LTC_RUN_ID}" "$1" "$2" --env "${LTC_ENV_NAME}" --output json >/dev/null
  log::info "recorded $1 for run ${LTC_RUN_ID}"
}

# The deploy run a rollback undoes: ROLLBACK_RUN, else the newest deploy run with
# records in the shared state. Sets and exports ROLLBACK_RUN; returns 1 (with a
# warning) when there is none, so the steps that need no records still run.
rb::rollback_run() {
  if [[ -z "${ROLLBACK_RUN:-}" ]]; then
    ROLLBACK_RUN="$("${LTC_BIN_DIR}/run-state" runs last deploy --env "${LTC_ENV_NAME}" --output json 2>/dev/null | jq -r '.run_id // empty')" || true
    if [[ -z "${ROLLBACK_RUN}" ]]; then
      log::warn "no deploy run with records in environment ${LTC_ENV_NAME} (run-state runs list --env ${LTC_ENV_NAME}); steps that need one will stop"
      return 1
    fi
  fi
  export ROLLBACK_RUN
}

# Reads the record NAME of run RUN into FILE; exit 2 with a clear line when missing.
rb::get_record() {
  local run="$1" name="$2" file="$3" code=0
  "${LTC_BIN_DIR}/run-state" runs get "${run}" "${name}" --env "${LTC_ENV_NAME}" >"${file}" || code=$?
  if ((code != 0)); then
    log::error "run ${run} has no record ${name} (exit ${code}); rollback reads only the named run's records"
    exit 2
  fi
}

# Runs one binary with the runbook's flags; its JSON stdout goes to the run folder
# (path in RB_LAST_OUT). Returns the binary's exit code.
rb::bin() {
  local bin="$1"
  shift
  RB_SEQ=$((RB_SEQ + 1))
  RB_LAST_OUT="${RB_RUN_DIR}/${RB_STEP}.$(printf '%02d' "${RB_SEQ}").${bin}-${1:-}.json"
  local cmd=("${LTC_BIN_DIR}/${bin}" "$@" "${RB_BIN_FLAGS[@]}")
  [[ -x "${cmd[0]}" ]] || { log::error "${cmd[0]} is missing: cargo build --workspace --bins, or set LTC_BIN_DIR"; return 2; }
  log::info "\$ $(rb::shell_quote "${cmd[@]}")"
  local code=0
  LTC_RUN_ID="${LTC_RUN_ID}" "${cmd[@]}" >"${RB_LAST_OUT}" || code=$?
  if ((code != 0)); then
    log::error "${bin} ${1:-} exited ${code}: $(rb::meaning "${code}")"
  fi
  return "${code}"
}

# rb::bin_allowing "4 5" BIN ARGS...: like rb::bin, but the listed exit codes count
# as success too (e.g. `stack-deploy status` exits 4 when a stack is not healthy,
# which is what a step reading it wants to know, not a failure of the read).
rb::bin_allowing() {
  local allowed=" $1 " code=0
  shift
  rb::bin "$@" || code=$?
  if ((code != 0)) && [[ "${allowed}" == *" ${code} "* ]]; then
    log::info "(exit ${code} is expected here: read on)"
    return 0
  fi
  return "${code}"
}

# `jq` over the last binary's output.
rb::jq() {
  jq "$@" "${RB_LAST_OUT}"
}

# A string that the shell reads back as the given words (for --gate-cmd).
rb::shell_quote() {
  local out=() word
  for word in "$@"; do out+=("$(printf '%q' "${word}")"); done
  echo "${out[*]}"
}

# deploy.sh / rollback.sh: the whole run between its notifications: KIND-start,
# the steps (rb::run_steps), the report, then KIND-complete, or KIND-step-failed
# and exit with the failed step's code.
# Usage: rb::run_notified KIND STEP...
rb::run_notified() {
  local kind="$1" code=0
  shift
  rb::notify "${kind}-start"
  rb::run_steps "${kind}" "$@" || code=$?
  rb::report "${code}"
  if ((code != 0)); then
    rb::notify "${kind}-step-failed"
    exit "${code}"
  fi
  rb::notify "${kind}-complete"
}

# deploy.sh / rollback.sh: runs the selected steps in order, stops at the first
# failure with its meaning and the command to resume.
# Usage: rb::run_steps KIND STEP... ; reads --from, --only, --to from RB_REST.
# Steps named in RB_SKIP_STEPS are skipped (with RB_SKIP_REASON) unless --only names them;
# RB_RESUME_FLAGS are the runbook's own flags, repeated in the resume command.
rb::run_steps() {
  local kind="$1"
  shift
  local steps=("$@") from="" only="" to="" i
  [[ -v RB_RESUME_FLAGS ]] || RB_RESUME_FLAGS=()
  for ((i = 0; i < ${#RB_REST[@]}; i++)); do
    case "${RB_REST[i]}" in
      --from | --only | --to) ((i + 1 < ${#RB_REST[@]})) || rb::usage_error "${RB_REST[i]} needs a step name" ;;
      *) rb::usage_error "unknown argument '${RB_REST[i]}'" ;;
    esac
    case "${RB_REST[i]}" in
      --from) from="${RB_REST[i + 1]}" ;;
      --only) only="${RB_REST[i + 1]}" ;;
      --to) to="${RB_REST[i + 1]}" ;;
    esac
    i=$((i + 1))
  done
  local name
  for name in "${from}" "${only}" "${to}"; do
    [[ -z "${name}" || " ${steps[*]} " == *" ${name} "* ]] ||
      rb::usage_error "unknown step '${name}'; the ${kind} steps are: ${steps[*]}"
  done
  [[ -z "${only}" || (-z "${from}" && -z "${to}") ]] || rb::usage_error "--only does not combine with --from or --to"

  local selected=() on=0
  [[ -n "${from}" ]] || on=1
  for name in "${steps[@]}"; do
    [[ "${name}" != "${from}" ]] || on=1
    if [[ -n "${only}" ]]; then
      [[ "${name}" != "${only}" ]] || selected+=("${name}")
    elif ((on)); then
      selected+=("${name}")
    fi
    [[ "${name}" != "${to}" ]] || on=0
  done

  rb::open_run "${kind}"
  trap 'rb::release_lock' EXIT
  rb::hold_lock "${kind}" "runbooks/${kind}.sh"
  local timeline="${RB_RUN_DIR}/timeline.tsv" flags=(--env "${RB_ENV}")
  ((RB_DRY_RUN == 0)) || flags+=(--dry-run)
  ((RB_YES == 0)) || flags+=(--yes)
  log::info "${kind}: env ${RB_ENV}, run ${LTC_RUN_ID}, steps ${selected[*]}; run folder ${RB_RUN_DIR}"
  local start end code
  for name in "${selected[@]}"; do
    if [[ -n "${RB_SKIP_STEPS:-}" && " ${RB_SKIP_STEPS} " == *" ${name} "* && "${name}" != "${only}" ]]; then
      log::info "-- ${name}: skipped (${RB_SKIP_REASON:-not asked for})"
      printf '%s\t%s\t%s\n' "${name}" 0 skipped >>"${timeline}"
      continue
    fi
    start="$(date +%s%N)"
    code=0
    "${RB_DIR}/${name}.sh" "${flags[@]}" || code=$?
    end="$(date +%s%N)"
    printf '%s\t%s\t%s\n' "${name}" "$(((end - start) / 1000000))" "${code}" >>"${timeline}"
    if ((code != 0)); then
      log::error "${kind} stopped at step '${name}': exit ${code} ($(rb::meaning "${code}"))"
      log::error "outputs and transcript: ${RB_RUN_DIR}"
      log::error "resume with: LTC_RUN_ID=${LTC_RUN_ID} ${RB_DIR}/${kind}.sh $(rb::shell_quote "${flags[@]}" "${RB_RESUME_FLAGS[@]}") --from ${name}"
      return "${code}"
    fi
  done
  log::info "${kind} finished: ${#selected[@]} step(s); run folder ${RB_RUN_DIR}"
}

# The environment's health gates file for `health-gate`: GATES_FILE, else
# env/NAME.gates.toml, in RB_GATES; exit 2 when it is missing. Every
# setting the file names as ${VAR} is exported (when set) so health-gate sees it.
rb::gates() {
  RB_GATES="${GATES_FILE:-${LTC_ROOT}/env/${RB_ENV}.gates.toml}"
  [[ -f "${RB_GATES}" ]] ||
    rb::usage_error "no gates file for environment '${RB_ENV}': ${RB_GATES} (copy env/prod.gates.toml.example)"
  local name
  while IFS= read -r name; do
    [[ -z "${!name:-}" ]] || export "${name?}"
  done < <(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*\}' "${RB_GATES}" | tr -d '{}$' | sort -u)
}

# The environment's health gates (rb::gates; the strategy's thresholds, read by
# health-gate): exit 4 when a critical gate fails or has no data. Warnings are logged.
# In a dry run nothing was changed, so a failing gate is reported and the step goes on.
# Used by validate.sh and validate-rollback.sh.
rb::check_health_gates() {
  rb::gates
  if ((RB_DRY_RUN)); then
    rb::bin_allowing 4 health-gate check --gates "${RB_GATES}" || return
  else
    rb::bin health-gate check --gates "${RB_GATES}" || return
  fi
  log::info "health gates: $(rb::jq -r '"\(.pass) pass, \(.fail) fail, \(.inconclusive) inconclusive: \(.reason)"')"
}

# Auto scaling of the ECS services (ecs-revert scaling show, read-only): min, max and
# suspended state per service in the log, the full answer in the run folder; a warning
# with the resume command when some service's scaling is suspended.
# Used by validate.sh and validate-rollback.sh.
rb::show_scaling() {
  local services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  rb::bin ecs-revert scaling show --cluster "${ECS_CLUSTER}" "${services[@]}"
  rb::jq -r '.targets[] | "auto scaling \(.service): " + (if .registered then "min \(.min) max \(.max), suspended \(.suspended | [to_entries[] | select(.value) | .key] | if length == 0 then "none" else join("+") end)" else "no scalable target" end)' |
    while IFS= read -r line; do log::info "${line}"; done
  if rb::jq -e '[.targets[] | select(.registered and (.suspended | to_entries | any(.value)))] | length > 0' >/dev/null; then
    log::warn "auto scaling is suspended for some services (above); resume with: ecs-revert scaling resume --cluster ${ECS_CLUSTER} --service ..."
  fi
}

# Target health of the given target groups (lb-switch health, read-only): exit 4 when
# one has less than LB_MIN_HEALTHY of its registered targets healthy; in a dry run
# (nothing deployed) that is reported and the step goes on. No groups: nothing to check.
# Used by deploy-application.sh, validate.sh and validate-rollback.sh.
rb::check_target_health() {
  local groups=() g code=0
  for g in "$@"; do [[ -z "${g}" ]] || groups+=(--target-group "${g}"); done
  if ((${#groups[@]} == 0)); then
    log::info "no LB_TARGET_GROUP_OLD/NEW in the settings: no target health check"
    return 0
  fi
  rb::bin lb-switch health "${groups[@]}" --min-healthy "${LB_MIN_HEALTHY:-100%}" || code=$?
  rb::jq -r '.target_groups[]? | "target health \(.name): \(.healthy)/\(.registered) healthy (\(.healthy_percent) %)"' 2>/dev/null |
    while IFS= read -r line; do log::info "${line}"; done || true
  ((code != 4 || RB_DRY_RUN == 0)) || { log::info "(dry run: nothing was deployed; read on)"; code=0; }
  return "${code}"
}

# The downtime probe (smoke-test probe) of a traffic step: requests each URL every
# PROBE_INTERVAL (default 100ms) until rb::probe_stop. Args: the URLs, then
# "--expect-serving URL" for the origin that must answer throughout. Sets
# RB_PROBE_PID, RB_PROBE_OUT (JSON lines) and RB_PROBE_ERR. No-op in a dry run.
rb::probe_start() {
  ((RB_DRY_RUN == 0)) || return 0
  local path="${PROBE_PATH:-/}" args=() i
  while (($# > 0)); do
    case "$1" in
      --expect-serving) args+=(--expect-serving "${2%/}${path}"); shift 2 ;;
      *) args+=(--url "${1%/}${path}"); shift ;;
    esac
  done
  RB_PROBE_OUT="${RB_RUN_DIR}/${RB_STEP}.probe.jsonl"
  RB_PROBE_ERR="${RB_RUN_DIR}/${RB_STEP}.probe.stderr"
  local cmd=("${LTC_BIN_DIR}/smoke-test" probe "${args[@]}" --interval "${PROBE_INTERVAL:-100ms}" "${RB_BIN_FLAGS[@]}")
  [[ -x "${cmd[0]}" ]] || { log::error "${cmd[0]} is missing: cargo build --workspace --bins, or set LTC_BIN_DIR"; return 2; }
  log::info "\$ $(rb::shell_quote "${cmd[@]}") &"
  "${cmd[@]}" >"${RB_PROBE_OUT}" 2>"${RB_PROBE_ERR}" &
  RB_PROBE_PID=$!
  # The step must not leave the probe running, whatever way it ends.
  trap rb::probe_exit EXIT
  for ((i = 0; i < 100; i++)); do
    ! grep -q '^probing ' "${RB_PROBE_ERR}" 2>/dev/null || return 0
    kill -0 "${RB_PROBE_PID}" 2>/dev/null || break
    sleep 0.05
  done
  log::error "the downtime probe did not start: $(tail -n 1 "${RB_PROBE_ERR}")"
  return 2
}

rb::probe_kill() {
  [[ -z "${RB_PROBE_PID:-}" ]] || kill -INT "${RB_PROBE_PID}" 2>/dev/null || true
}

# The step's EXIT trap while a probe runs: stop the probe, then the usual report.
rb::probe_exit() {
  local code=$?
  rb::probe_kill
  rb::step_exit "${code}"
}

# Stops the probe; its summary goes to the run folder and the log. Returns the
# probe's exit code (4: the origin that must serve failed a request).
rb::probe_stop() {
  [[ -n "${RB_PROBE_PID:-}" ]] || return 0
  local code=0 sum="${RB_RUN_DIR}/${RB_STEP}.probe-summary.json"
  kill -INT "${RB_PROBE_PID}" 2>/dev/null || true
  wait "${RB_PROBE_PID}" || code=$?
  RB_PROBE_PID=""
  if ! tail -n 1 "${RB_PROBE_OUT}" | jq -e 'select(.event == "summary")' >"${sum}" 2>/dev/null; then
    log::error "the downtime probe left no summary (exit ${code}): $(tail -n 1 "${RB_PROBE_ERR}")"
    return $((code == 0 ? 4 : code))
  fi
  log::info "$(jq -r '"downtime probe: \(.requests) requests, \(.failures) failed, longest gap \(.longest_gap_ms) ms"' "${sum}")"
  jq -r '.urls[] | "  \(.url)\(if .expect_serving then " (must serve)" else "" end): \(.requests) requests, \(.failures) failed, longest gap \(.longest_gap_ms) ms\(if .first_failure then ", failures \(.first_failure) .. \(.last_failure)" else "" end)"' \
    "${sum}" | while IFS= read -r line; do log::info "${line}"; done
  log::info "probe summary: ${sum}"
  return "${code}"
}

# Notifications (notify send) at the start, on a failed step and at the end of
# deploy.sh and rollback.sh, when the settings name a destination:
# NOTIFY_SNS_TOPIC_ARN (an SNS topic) and/or NOTIFY_WEBHOOK_URL_ENV (the name of
# the variable holding a Slack-compatible webhook URL; the URL is never printed).
# The summary (steps, durations, smoke-test and health-gate figures, the run's
# journal, the resume command) is read from the run folder. A failed notification
# is logged as a warning and never fails or holds up the run: always returns 0,
# and the binary gets NOTIFY_TIMEOUT (default 5s) per destination, at most 30 s.
# Usage: rb::notify EVENT [STEP]   (EVENT: deploy-start, rollback-step-failed ...)
rb::notify() {
  local event="$1" step="${2:-}" kind="${1%%-*}" args=() code=0 out err reasons
  [[ -n "${NOTIFY_SNS_TOPIC_ARN:-}" || -n "${NOTIFY_WEBHOOK_URL_ENV:-}" ]] || return 0
  local bin="${LTC_BIN_DIR:-${LTC_ROOT}/target/debug}/notify"
  if [[ ! -x "${bin}" ]]; then
    log::warn "notification ${event} NOT sent: ${bin} is missing (cargo build --workspace --bins); the ${kind} goes on"
    return 0
  fi
  # The run id and folder the steps will use (rb::run_steps reuses them).
  rb::open_run "${kind}" || { log::warn "notification ${event} NOT sent: no run folder"; return 0; }
  [[ -z "${step}" ]] || args+=(--step "${step}")
  [[ -z "${NOTIFY_SNS_TOPIC_ARN:-}" ]] || args+=(--sns-topic "${NOTIFY_SNS_TOPIC_ARN}")
  [[ -z "${NOTIFY_WEBHOOK_URL_ENV:-}" ]] || args+=(--webhook-url-env "${NOTIFY_WEBHOOK_URL_ENV}")
  out="${RB_RUN_DIR}/notify.${event}.json"
  err="${RB_RUN_DIR}/notify.${event}.stderr"
  log::info "notify: ${event} (run ${LTC_RUN_ID})"
  timeout -k 2 30 "${bin}" send --event "${event}" --run "${LTC_RUN_ID}" --run-dir "${RB_RUN_DIR}" \
    --timeout "${NOTIFY_TIMEOUT:-5s}" "${args[@]}" "${RB_BIN_FLAGS[@]}" \
    </dev/null >"${out}" 2>"${err}" || code=$?
  if ((code == 0)); then
    log::info "notify: ${event} delivered ($(jq -r '[.destinations[] | .kind] | join(", ")' "${out}" 2>/dev/null || true))"
    return 0
  fi
  reasons="$(jq -r '[.destinations[] | select(.ok | not) | "\(.kind): \(.reason)"] | join("; ")' "${out}" 2>/dev/null || true)"
  [[ -n "${reasons}" ]] || reasons="$(tail -n 1 "${err}" 2>/dev/null || true)"
  ((code != 124 && code != 137)) || reasons="no answer within 30 s; stopped"
  log::warn "NOTIFICATION ${event} NOT DELIVERED (exit ${code}): ${reasons:-see ${err}}; the ${kind} goes on without it"
  return 0
}
