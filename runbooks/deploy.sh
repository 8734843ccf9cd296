#!/usr/bin/env bash
# The strategy's "Deployment Execution Plan", Deployment Day, step by step:
#   preflight, backup-database, record-site        T-4h pre-deployment setup
#   deploy-foundation                              T-0  Database, Security
#   deploy-application                             T+30 Api, StaticSite, smoke tests
#   deploy-observability                           T+60 Monitoring, Observability, DR
#   dns-cutover                                    T+90 gradual weighted routing, gated
#   validate                                       T+120 smoke, load, stacks, alarms
# Usage: runbooks/deploy.sh --env NAME [--dry-run] [--yes] [--from STEP | --only STEP] [--to STEP]
#   Settings come from env/NAME.env. Each step's JSON output and a transcript
#   go to .ltc/runs/<time>-deploy/. A failing step stops the run and prints the
#   command to resume. Run the T-4h steps early with --to record-site, the rest
#   later with --from deploy-foundation.
#   Start, a failed step and the end are notified when NOTIFY_* is set (rb::notify);
#   a notification that cannot be sent is a warning, never a stop.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  rb::parse_flags "$@"
  rb::load_env
  rb::confirm_production "deploy"
  rb::run_notified deploy "${RB_DEPLOY_STEPS[@]}"
}

main "$@"
