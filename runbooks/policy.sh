#!/usr/bin/env bash
# The IAM policy a whole deploy and a whole rollback of one environment need:
# the union of `<binary> policy <subcommand> ...` for every command the steps of
# runbooks/deploy.sh and runbooks/rollback.sh run, with that environment's
# settings (env/NAME.env, its gates file, LTC_STATE).
# Usage: runbooks/policy.sh --env NAME [--account ID] [--only deploy|rollback]
#   Prints one IAM policy document (JSON) on stdout; see the README ("IAM role")
#   for creating the role from it. Makes no AWS call.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One command's policy document, appended to POLICY_DOCS.
policy::of() {
  local bin="${BIN_DIR}/$1"
  shift
  [[ -x "${bin}" ]] || rb::usage_error "${bin} is missing: cargo build --workspace --bins, or set LTC_BIN_DIR"
  local doc
  if ! doc="$("${bin}" policy "${ACCOUNT_FLAG[@]}" "$@" --env "${LTC_ENV_NAME}" --output json)"; then
    log::error "$(basename "${bin}") policy $* failed"
    exit 2
  fi
  POLICY_DOCS+=("${doc}")
}

# notify send (rb::notify) when the settings name a destination: sns:Publish on
# the topic, and the state tree's journal (the run's changes, each delivery).
policy::notify() {
  [[ -n "${NOTIFY_SNS_TOPIC_ARN:-}" || -n "${NOTIFY_WEBHOOK_URL_ENV:-}" ]] || return 0
  local sns=()
  [[ -z "${NOTIFY_SNS_TOPIC_ARN:-}" ]] || sns=(--sns-topic "${NOTIFY_SNS_TOPIC_ARN}")
  policy::of notify send --event "$1-start" --run "${RUN_ID}" "${sns[@]}"
}

# lb-switch, when the settings name a load balancer: the target health checks of
# deploy-application/validate and (rollback) the maintenance rule on and off.
policy::lb() {
  [[ -n "${LB_LISTENER_ARN:-}" ]] || return 0
  local groups=() g
  for g in "${LB_TARGET_GROUP_OLD:-}" "${LB_TARGET_GROUP_NEW:-}"; do
    [[ -z "${g}" ]] || groups+=(--target-group "${g}")
  done
  ((${#groups[@]} == 0)) || policy::of lb-switch health "${groups[@]}"
  [[ "$1" == rollback ]] || return 0
  local page=(--body "${MAINTENANCE_BODY_FILE:-/dev/null}")
  [[ -z "${LB_MAINTENANCE_TG:-}" ]] || page=(--target-group "${LB_MAINTENANCE_TG}")
  policy::of lb-switch show --listener "${LB_LISTENER_ARN}"
  policy::of lb-switch maintenance on --listener "${LB_LISTENER_ARN}" "${page[@]}"
  policy::of lb-switch maintenance off --listener "${LB_LISTENER_ARN}"
}

policy::deploy() {
  local services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  policy::of run-state lock hold --run "${RUN_ID}"
  policy::of run-state runs put "${RUN_ID}" record /dev/null
  policy::of health-gate check --gates "${RB_GATES}"
  policy::of stack-deploy plan --app "${ASSEMBLY_DIR}" --all --changes
  policy::of db-snapshot create --instance "${DB_INSTANCE}" --prefix "${DB_SNAPSHOT_PREFIX}"
  policy::of db-snapshot list --instance "${DB_INSTANCE}" --all
  policy::of site-restore record --bucket "${SITE_BUCKET}"
  policy::of ecs-revert scaling record --cluster "${ECS_CLUSTER}" "${services[@]}" --run "${RUN_ID}"
  policy::of ecs-revert status --cluster "${ECS_CLUSTER}" "${services[@]}"
  policy::of stack-deploy deploy --app "${ASSEMBLY_DIR}" --all "${STACK_DEPLOY_ARGS[@]}"
  policy::of stack-deploy status --app "${ASSEMBLY_DIR}" --all
  policy::of dns-shift show --zone "${ZONE}" --record "${RECORD}"
  policy::of dns-shift shift --zone "${ZONE}" --record "${RECORD}" --to "${SET_NEW}" \
    --steps "${CUTOVER_STEPS}" "${ALARM_FLAGS[@]}"
  policy::of dns-shift alarms "${ALARM_FLAGS[@]}"
  policy::of health-gate watch --gates "${RB_GATES}" --for 1m
  policy::lb deploy
  policy::notify deploy
}

policy::rollback() {
  local services=() s dist=()
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  [[ -z "${SITE_DISTRIBUTION:-}" ]] || dist=(--distribution "${SITE_DISTRIBUTION}")
  policy::of run-state lock hold --run "${RUN_ID}"
  policy::of run-state runs get "${RUN_ID}" record
  policy::of run-state runs last deploy
  policy::of stack-deploy status --app "${ASSEMBLY_DIR}" --all
  policy::of stack-deploy cancel "${ALL_STACKS[@]}"
  policy::of stack-deploy rollback "${ALL_STACKS[@]}"
  policy::of stack-deploy revert --run "${RUN_ID}" --app "${ASSEMBLY_DIR}"
  policy::of dns-shift maintenance on --zone "${ZONE}" --record "${RECORD}" --set "${SET_MAINTENANCE}"
  policy::of dns-shift set --zone "${ZONE}" --record "${RECORD}" --weight "${SET_OLD}=100"
  policy::of dns-shift undo --zone "${ZONE}" --record "${RECORD}"
  policy::of dns-shift alarms "${ALARM_FLAGS[@]}"
  policy::of ecs-revert scaling show --cluster "${ECS_CLUSTER}" "${services[@]}"
  policy::of ecs-revert scaling suspend --cluster "${ECS_CLUSTER}" "${services[@]}"
  policy::of ecs-revert scaling restore --cluster "${ECS_CLUSTER}" --run "${RUN_ID}"
  policy::of ecs-revert scale --cluster "${ECS_CLUSTER}" "${services[@]}" --desired 0
  policy::of ecs-revert revert --cluster "${ECS_CLUSTER}" "${services[@]}"
  # The restore target's name carries the time of the run: any such name.
  policy::of db-snapshot restore --snapshot latest --instance "${DB_INSTANCE}" \
    --target "${DB_INSTANCE}-restore-${RESTORE_STAMP}" --swap
  policy::of db-snapshot verify --instance "${DB_INSTANCE}"
  policy::of site-restore restore --bucket "${SITE_BUCKET}" --manifest /dev/null "${dist[@]}"
  policy::of health-gate check --gates "${RB_GATES}"
  policy::lb rollback
  policy::notify rollback
}

# Merges documents: per (condition, resources) the union of actions, then per
# (condition, actions) the union of resources; sorted, so the output is stable.
policy::merge() {
  printf '%s\n' "$@" | jq -s --arg stamp "${RESTORE_STAMP}" '
    [ .[].Statement[]
      | {c: (.Condition // null), a: (.Action | if type == "array" then . else [.] end)[],
         r: (.Resource | if type == "array" then . else [.] end)[]}
      | .r |= gsub($stamp; "*") ]
    | group_by([.c, .a]) | map({c: .[0].c, a: .[0].a, r: (map(.r) | unique)})
    | map(if (.r | index("*")) then .r = ["*"] else . end)
    | group_by([.c, .r]) | map({c: .[0].c, r: .[0].r, a: (map(.a) | unique)})
    | group_by([.c, .a]) | map({c: .[0].c, a: .[0].a, r: (map(.r[]) | unique)})
    | {Version: "2012-10-17",
       Statement: map({Effect: "Allow", Action: .a, Resource: .r}
                      + (if .c then {Condition: .c} else {} end))}'
}

main() {
  local only="" account=""
  rb::parse_flags "$@"
  set -- "${RB_REST[@]}"
  while (($# > 0)); do
    case "$1" in
      --account) (($# >= 2)) || rb::usage_error "--account needs an id"; account="$2"; shift 2 ;;
      --only) (($# >= 2)) || rb::usage_error "--only needs deploy or rollback"; only="$2"; shift 2 ;;
      *) rb::usage_error "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -z "${only}" || "${only}" == deploy || "${only}" == rollback ]] ||
    rb::usage_error "--only must be deploy or rollback, got '${only}'"
  command -v jq >/dev/null || rb::usage_error "jq is needed to merge the documents"
  rb::load_env
  rb::gates
  ACCOUNT_FLAG=()
  [[ -z "${account}" ]] || ACCOUNT_FLAG=(--account "${account}")
  BIN_DIR="${LTC_BIN_DIR:-${CARGO_TARGET_DIR:-${LTC_ROOT}/target}/debug}"
  readonly RUN_ID="00000000T000000.000Z-policy-000000"
  readonly RESTORE_STAMP="00000000000000"
  ALARM_FLAGS=()
  local a
  for a in "${ALARMS[@]}"; do ALARM_FLAGS+=(--alarm "${a}"); done
  ALL_STACKS=("${FOUNDATION_STACKS[@]}" "${APPLICATION_STACKS[@]}" "${OBSERVABILITY_STACKS[@]}")
  POLICY_DOCS=()
  [[ "${only}" == rollback ]] || policy::deploy
  [[ "${only}" == deploy ]] || policy::rollback
  policy::merge "${POLICY_DOCS[@]}"
}

main "$@"
