#!/usr/bin/env bash
# Strategy step: Deployment Day, T-4h "Pre-deployment Setup": verify AWS credentials
# and permissions (every service the release touches is read once), the tools, the
# cloud assembly and checks file, the CDK bootstrap version the assembly needs, the
# origins' certificates (risk "SSL Certificate Issues"), database and cache
# connectivity (the tcp gates of env/NAME.gates.toml: a connect to each
# endpoint, found from the RDS and ElastiCache ids), and the current status of
# production. Write permissions cannot be proven without writing; they show at the
# first change.
set -Eeuo pipefail
# shellcheck source=runbooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_tools() {
  local bin missing=0
  for bin in stack-deploy dns-shift db-snapshot ecs-revert smoke-test site-restore health-gate; do
    [[ -x "${LTC_BIN_DIR}/${bin}" ]] || { log::error "missing ${LTC_BIN_DIR}/${bin}"; missing=1; }
  done
  command -v jq >/dev/null || { log::error "jq is not installed"; missing=1; }
  [[ -f "${ASSEMBLY_DIR}/manifest.json" ]] || { log::error "no cloud assembly at ${ASSEMBLY_DIR}"; missing=1; }
  [[ -f "${CHECKS_FILE}" ]] || { log::error "no checks file at ${CHECKS_FILE}"; missing=1; }
  ((missing == 0)) || exit 2
}

# Every https origin's certificate must stay valid CERT_MIN_DAYS (default 14) more
# days; any HTTP answer will do, the certificate is what is judged.
check_certificates() {
  local url
  for url in "${OLD_URL}" "${NEW_URL}"; do
    if [[ "${url}" != https://* ]]; then
      log::info "certificate of ${url}: not https, nothing to check"
      continue
    fi
    rb::bin smoke-test get "${url%/}/" --expect-status 100-599 --no-default-thresholds \
      --min-cert-days "${CERT_MIN_DAYS:-14}"
  done
}

# "Verify database and cache connectivity": only the gates file's tcp gates.
check_connectivity() {
  rb::gates
  rb::bin health-gate check --gates "${RB_GATES}" --source tcp
  rb::jq -r '.gates[] | "reachable: \(.name): \(.detail)"' | while IFS= read -r line; do log::info "${line}"; done
}

main() {
  rb::step_init preflight "$@"
  check_tools
  local services=() s
  for s in "${ECS_SERVICES[@]}"; do services+=(--service "${s}"); done
  # The first AWS read also proves the credentials (exit 3 within a second if not).
  rb::bin stack-deploy plan --app "${ASSEMBLY_DIR}" --all
  # A dry-run deploy reads the CDK bootstrap version (SSM /cdk-bootstrap/hnb659fds/version)
  # of every target environment and fails (exit 4) when it is below what the assembly's
  # stacks require, now rather than at T-0; it changes nothing.
  local dry=(--dry-run)
  ((RB_DRY_RUN == 0)) || dry=() # the runbook's flags already carry it
  rb::bin stack-deploy deploy --app "${ASSEMBLY_DIR}" --all "${dry[@]}"
  rb::bin dns-shift show --zone "${ZONE}" --record "${RECORD}"
  rb::bin ecs-revert status --cluster "${ECS_CLUSTER}" "${services[@]}"
  rb::bin db-snapshot list --instance "${DB_INSTANCE}" --all
  check_connectivity
  rb::bin smoke-test run "${CHECKS_FILE}" --base-url "${OLD_URL}"
  check_certificates
  log::info "preflight: credentials, tools and current production look ready"
}

main "$@"
