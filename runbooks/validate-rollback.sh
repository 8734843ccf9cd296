#!/usr/bin/env bash
# Strategy step: "Post-Rollback Validation": the smoke suite against the previous
# release (OLD_URL); "validate auto-scaling and load balancing": each ECS service's
# auto scaling is shown (ecs-revert scaling show, read-only) and the previous release's
# target group must have LB_MIN_HEALTHY of its targets healthy (lb-switch health)
# before traffic goes back to it. Then traffic back from maintenance onto it: first
# the load balancer (LB_LISTENER_ARN): `lb-switch maintenance off` restores the rules
# recorded before divert-traffic's maintenance rule, and refuses (exit 4, the
# difference named, nothing changed, DNS not touched either) when someone changed
# them since; then DNS: one weight change, previous set 100 %, new and maintenance
# sets 0 (dns-shift set). `dns-shift maintenance off` is not used: it would restore
# the weights from before maintenance, which may still send users to the failed
# release. Last, with traffic back on the previous release, the environment's health
# gates must hold (health-gate check, env/NAME.gates.toml).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The load balancer's maintenance rule off again: the listener's rules as recorded
# before `maintenance on` (lb-switch's journal). Someone else's change since then is
# exit 4 with the difference, and nothing is changed.
restore_load_balancer() {
  if [[ -z "${LB_LISTENER_ARN:-}" ]]; then
    log::info "no LB_LISTENER_ARN in the settings: no load balancer step, traffic returns in DNS only"
    return 0
  fi
  # Nothing to take off when no maintenance rule was ever put on (divert-traffic skipped).
  # A journal that cannot be read stops the step: traffic must not return to DNS while
  # the load balancer may still answer with the maintenance page.
  local journal code=0 on=0
  journal="$(mktemp "${RB_RUN_DIR}/.journal.XXXXXX")"
  "${LTC_BIN_DIR}/run-state" journal --env "${LTC_ENV_NAME}" --output json >"${journal}" || code=$?
  if ((code == 0)); then
    jq -n -e --arg l "${LB_LISTENER_ARN}" '[inputs | select(.action == "lb.maintenance-on" and .target == $l)] | length > 0' \
      "${journal}" >/dev/null || on=$?
  fi
  rm -f "${journal}"
  if ((code != 0)); then
    log::error "the shared journal could not be read (run-state journal exit ${code}): not knowing whether ${LB_LISTENER_ARN} is in maintenance, traffic stays where it is"
    return "${code}"
  fi
  if ((on != 0)); then
    log::info "the journal holds no maintenance rule put on ${LB_LISTENER_ARN}: nothing to take off the load balancer"
    return 0
  fi
  rb::bin lb-switch maintenance off --listener "${LB_LISTENER_ARN}" || code=$?
  if ((code == 4)); then
    rb::jq -r '.conflict[]?' 2>/dev/null | while IFS= read -r line; do log::error "changed since the diversion: ${line}"; done || true
    log::error "the listener's rules were changed since divert-traffic: nothing restored, traffic stays on maintenance; reconcile them, then resume (or lb-switch maintenance off --listener ${LB_LISTENER_ARN} --force)"
    return 4
  fi
  ((code == 0)) || return "${code}"
  log::info "load balancer: $(rb::jq -r 'if .changed then "rules restored (\(.mutating_calls) change(s), \(.elbv2_calls) ELBv2 calls)" else (.note // "no change") end')"
}

main() {
  rb::step_init validate-rollback "$@"
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${OLD_URL}"
  rb::show_scaling
  rb::check_target_health "${LB_TARGET_GROUP_OLD:-}"
  restore_load_balancer
  # Traffic back onto the previous release, watched by the downtime probe: the
  # previous origin must answer every request while the weights move.
  local code=0 probe_code=0
  rb::probe_start "${OLD_URL}" "${NEW_URL}" --expect-serving "${OLD_URL}"
  rb::bin dns-shift set --zone "${ZONE}" --record "${RECORD}" \
    --weight "${SET_OLD}=100" --weight "${SET_NEW}=0" --weight "${SET_MAINTENANCE}=0" || code=$?
  rb::probe_stop || probe_code=$?
  ((code == 0)) || return "${code}"
  ((probe_code == 0)) || return "${probe_code}"
  rb::check_health_gates
}

main "$@"
