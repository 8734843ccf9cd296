#!/usr/bin/env bash
# Case (issue 15): eight operators act on one environment at once — deploy.sh,
# rollback.sh and hand-run dns-shift shifts, released together — twenty times.
# Each time exactly one proceeds, the seven others exit 8 naming the holder, and
# the record ends in a state one operator asked for, never a mix.
# expect-output: 20 rounds: 20 with one winner and 7 refusals, 0 mixed states
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly ROUNDS=20
readonly ALLOWED=("blue=100 green=0 maintenance=0" "blue=0 green=100 maintenance=0" "blue=0 green=0 maintenance=100")

dns() { "${LTC_BIN_DIR}/dns-shift" "$@" --zone "${RH_ZONE_NAME}" --record "${RH_RECORD}" --env rehearsal --output json; }

# One operator, started when the gate file appears.
racer() {
  local kind="$1" dir="$2" i="$3"
  while [[ ! -e "${dir}/go" ]]; do sleep 0.005; done
  local code=0
  case "${kind}" in
    shift) dns shift --to green --steps 50,100 --bake 1s >"${dir}/${i}.out" 2>"${dir}/${i}.err" || code=$? ;;
    deploy) "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes --only preflight >"${dir}/${i}.out" 2>"${dir}/${i}.err" || code=$? ;;
    rollback) "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --only divert-traffic \
      --run 20261202T000000.000Z-deploy-000000 >"${dir}/${i}.out" 2>"${dir}/${i}.err" || code=$? ;;
  esac
  echo "${code}" >"${dir}/${i}.code"
}

main() {
  local round kinds=(shift deploy shift rollback shift deploy shift rollback) good=0 mixed=0
  for ((round = 1; round <= ROUNDS; round++)); do
    dns set --weight blue=100 --weight green=0 --weight maintenance=0 >/dev/null
    local dir="${RH_DIR}/race/${round}" i pids=()
    mkdir -p "${dir}"
    for i in "${!kinds[@]}"; do
      racer "${kinds[i]}" "${dir}" "${i}" &
      pids+=("$!")
    done
    sleep 0.3
    touch "${dir}/go"
    wait "${pids[@]}"
    local ok=0 refused=0 other=() weights
    for i in "${!kinds[@]}"; do
      case "$(cat "${dir}/${i}.code")" in
        0) ok=$((ok + 1)) ;;
        8) grep -q "is locked: " "${dir}/${i}.err" && refused=$((refused + 1)) || other+=("${kinds[i]}: 8 without the holder") ;;
        *) other+=("${kinds[i]}: exit $(cat "${dir}/${i}.code"): $(tail -n 1 "${dir}/${i}.err")") ;;
      esac
    done
    weights="$(rh::weights)"
    [[ " ${ALLOWED[*]/%/|} " == *" ${weights}|"* ]] || { mixed=$((mixed + 1)); log::error "round ${round}: mixed weights ${weights}"; }
    if ((ok == 1 && refused == 7)); then
      good=$((good + 1))
    else
      log::error "round ${round}: ${ok} proceeded, ${refused} refused; ${other[*]}"
    fi
  done
  echo "${ROUNDS} rounds: ${good} with one winner and 7 refusals, ${mixed} mixed states"
  ((good == ROUNDS && mixed == 0))
}

main "$@"
