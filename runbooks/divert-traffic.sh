#!/usr/bin/env bash
# Strategy step: Rollback, Immediate Response 2 "Traffic Diversion": "update load
# balancer to stop routing traffic; activate maintenance page".
# First the load balancer (LB_LISTENER_ARN): its rules as they are now are kept as this
# run's record lb-rules.json, then `lb-switch maintenance on` puts a rule in front of
# every other that answers a fixed 503 with MAINTENANCE_BODY_FILE (or forwards to
# LB_MAINTENANCE_TG); clients with a cached DNS answer reach the load balancer and get
# the page at once. Then DNS: 100 % on the maintenance set (dns-shift maintenance on;
# the weights before are kept in the journal). Both are run even when the first fails:
# traffic must come off the release either way; the step then exits with the first
# failure's code. Without LB_LISTENER_ARN the step is DNS only, as before.
# When the environment names its maintenance origin (MAINTENANCE_URL), a downtime probe
# watches it and the previous release's origin while the DNS weights move: the
# maintenance origin must answer every request (exit 4 otherwise, after the diversion).
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The last output (lb-switch show: the listener's rules before the change) as this
# run's record lb-rules.json (a resumed step keeps the first record: it holds the rules
# from before any maintenance rule). Read back after writing: the step calls this in a
# condition, where a failed write inside rb::put_record would not stop it.
record_lb_rules() {
  ((RB_DRY_RUN == 0)) || return 0
  if has_lb_record; then
    log::info "run ${LTC_RUN_ID} already has lb-rules.json (a resumed step): kept"
    return 0
  fi
  rb::put_record lb-rules.json "${RB_LAST_OUT}"
  has_lb_record
}

has_lb_record() {
  "${LTC_BIN_DIR}/run-state" runs get "${LTC_RUN_ID}" lb-rules.json --env "${LTC_ENV_NAME}" >/dev/null 2>&1
}

# Returns the first failure's code; called in an `||` list, so every failure is
# returned explicitly (errexit does not apply there).
divert_at_load_balancer() {
  if [[ -z "${LB_LISTENER_ARN:-}" ]]; then
    log::info "no LB_LISTENER_ARN in the settings: no load balancer step, traffic is diverted in DNS only"
    return 0
  fi
  local page=()
  if [[ -n "${LB_MAINTENANCE_TG:-}" ]]; then
    page=(--target-group "${LB_MAINTENANCE_TG}")
  else
    page=(--body "${MAINTENANCE_BODY_FILE}" --content-type text/html)
  fi
  local code=0
  # A listener that cannot be read cannot be changed either: stop here (DNS still runs).
  rb::bin lb-switch show --listener "${LB_LISTENER_ARN}" || return
  if ! record_lb_rules; then
    code=1
    log::error "the listener's rules were not kept as lb-rules.json (lb-switch's journal still holds them); putting the maintenance rule on anyway"
  fi
  rb::bin lb-switch maintenance on --listener "${LB_LISTENER_ARN}" "${page[@]}" || return
  log::info "load balancer: $(rb::jq -r 'if .changed then "maintenance rule at priority \(.priority) (\(.elbv2_calls) ELBv2 calls)" else (.note // "no change") end')"
  return "${code}"
}

main() {
  rb::step_init divert-traffic "$@"
  local lb_code=0 code=0 probe_code=0
  divert_at_load_balancer || lb_code=$?
  if ((lb_code != 0)); then
    log::error "the load balancer step failed (exit ${lb_code}); diverting in DNS anyway"
  fi
  if [[ -n "${MAINTENANCE_URL:-}" ]]; then
    rb::probe_start "${MAINTENANCE_URL}" "${OLD_URL}" --expect-serving "${MAINTENANCE_URL}"
  else
    log::info "no MAINTENANCE_URL in the settings: no downtime probe of the maintenance origin"
  fi
  rb::bin dns-shift maintenance on --zone "${ZONE}" --record "${RECORD}" --set "${SET_MAINTENANCE}" || code=$?
  rb::probe_stop || probe_code=$?
  ((lb_code == 0)) || return "${lb_code}"
  ((code == 0)) || return "${code}"
  return "${probe_code}"
}

main "$@"
