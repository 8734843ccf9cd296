#!/usr/bin/env bash
# The rehearsal's local world, shared by scripts/rehearse and tests/run: a private
# moto emulator, two loopback nginx origins ("blue" = current release, "green" =
# new release, switchable to failing), the emulated "existing production" created
# with the AWS CLI, and independent checks of AWS state with that same CLI.
# Source it after scripts/lib/log.sh; call rh::setup, then rh::teardown (trap).
# shellcheck disable=SC2034  # RH_* settings are read by the scripts sourcing this file

readonly RH_AWS="${LTC_ROOT}/.venv/bin/aws"
readonly RH_ZONE_NAME=lightningtalk-circle.test
readonly RH_RECORD=www.lightningtalk-circle.test
readonly RH_CLUSTER=ltc-rehearsal
readonly RH_SERVICES=(ltc-api ltc-worker)
readonly RH_DB=ltc-db
readonly RH_BUCKET=ltc-rehearsal-site
readonly RH_CDK_BUCKET=cdk-hnb659fds-assets-123456789012-ap-northeast-1

aws_() { "${RH_AWS}" --output json "$@"; }

rh::free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Everything lives in RH_DIR; the environment for the runbooks and the AWS CLI is exported.
rh::setup() {
  export RH_DIR="$1"
  rm -rf "${RH_DIR}"
  mkdir -p "${RH_DIR}"
  export LTC_EMULATOR_DIR="${RH_DIR}/emulator" MOTO_ECS_SERVICE_RUNNING=2
  # (its readiness loop prints a curl error per try; only the result matters)
  "${LTC_ROOT}/scripts/emulator" start 2> >(grep --line-buffered -v '^curl: (7)' >&2)
  eval "$("${LTC_ROOT}/scripts/emulator" env)"
  export LTC_JOURNAL="${RH_DIR}/journal.jsonl" LTC_STATE_DIR="${RH_DIR}/state" \
    LTC_RUNS_DIR="${RH_DIR}/runs" LTC_REHEARSAL_BAKE="${LTC_REHEARSAL_BAKE:-2s}"
  rh::start_origins
}

rh::teardown() {
  if [[ -n "${RH_DIR:-}" && -f "${RH_DIR}/nginx/nginx.pid" ]]; then
    kill "$(cat "${RH_DIR}/nginx/nginx.pid")" 2>/dev/null || true
  fi
  if [[ -n "${LTC_EMULATOR_DIR:-}" ]]; then
    "${LTC_ROOT}/scripts/emulator" stop 2>/dev/null || true
  fi
}

# Site and app content of one release.
rh::write_release() {
  local dir="$1" version="$2"
  mkdir -p "${dir}"
  printf '<!doctype html><title>Lightning Talk Circle</title><h1>Lightning Talk Circle %s</h1>\n' "${version}" >"${dir}/index.html"
  printf '{"status":"ok","version":"%s"}\n' "${version}" >"${dir}/health"
}

rh::start_origins() {
  local n="${RH_DIR}/nginx" blue green
  mkdir -p "${n}/logs" "${n}/tmp"
  rh::write_release "${n}/blue" 1.9.0
  rh::write_release "${n}/green" 2.0.0
  : >"${n}/green-mode.conf"
  chmod -R a+rX "${RH_DIR}"
  blue="$(rh::free_port)"
  green="$(rh::free_port)"
  cat >"${n}/nginx.conf" <<CONF
worker_processes 1;
pid ${n}/nginx.pid;
error_log ${n}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${n}/tmp/body;
  proxy_temp_path ${n}/tmp/proxy;
  fastcgi_temp_path ${n}/tmp/fastcgi;
  uwsgi_temp_path ${n}/tmp/uwsgi;
  scgi_temp_path ${n}/tmp/scgi;
  default_type text/html;
  server { listen 127.0.0.1:${blue}; root ${n}/blue; location = /health { default_type application/json; } }
  server {
    listen 127.0.0.1:${green};
    root ${n}/green;
    include ${n}/green-mode.conf;
    location = /health { default_type application/json; }
  }
}
CONF
  nginx -p "${n}" -c "${n}/nginx.conf" -e "${n}/logs/error.log"
  export LTC_REHEARSAL_BLUE_URL="http://127.0.0.1:${blue}" LTC_REHEARSAL_GREEN_URL="http://127.0.0.1:${green}"
  rh::wait_status "${LTC_REHEARSAL_BLUE_URL}/health" 200
  rh::wait_status "${LTC_REHEARSAL_GREEN_URL}/health" 200
  log::info "origins: blue ${LTC_REHEARSAL_BLUE_URL}, green ${LTC_REHEARSAL_GREEN_URL}"
}

rh::wait_status() {
  local url="$1" want="$2" i got=""
  for ((i = 0; i < 100; i++)); do
    got="$(curl -s -o /dev/null -w '%{http_code}' "${url}" || true)"
    [[ "${got}" != "${want}" ]] || return 0
    sleep 0.05
  done
  log::die "${url} answers ${got}, not ${want}"
}

# Green starts failing (500 on every path) or recovers; waits until it shows.
rh::green() {
  local n="${RH_DIR}/nginx"
  case "$1" in
    fail) echo 'return 500;' >"${n}/green-mode.conf" ;;
    ok) : >"${n}/green-mode.conf" ;;
  esac
  nginx -p "${n}" -c "${n}/nginx.conf" -e "${n}/logs/error.log" -s reload
  rh::wait_status "${LTC_REHEARSAL_GREEN_URL}/health" "$([[ "$1" == fail ]] && echo 500 || echo 200)"
  log::info "green origin: $1"
}

# The "existing production": one background job per service, all awaited.
rh::seed() {
  curl -fsS -X POST -o /dev/null "${AWS_ENDPOINT_URL}/moto-api/reset"
  : >"${LTC_JOURNAL}"
  rm -rf "${LTC_STATE_DIR}"
  rh::green ok >/dev/null 2>&1
  local jobs=() pid failed=0
  rh::seed_bootstrap & jobs+=("$!")
  rh::seed_dns & jobs+=("$!")
  rh::seed_ecs & jobs+=("$!")
  rh::seed_rds & jobs+=("$!")
  rh::seed_site & jobs+=("$!")
  rh::seed_alarms & jobs+=("$!")
  for pid in "${jobs[@]}"; do wait "${pid}" || failed=1; done
  if ((failed != 0)); then
    log::error "seeding the emulator failed"
    return 1
  fi
  LTC_REHEARSAL_DISTRIBUTION_ID="$(cat "${RH_DIR}/distribution-id")"
  # moto gives every instance the same DbiResourceId; the creation time tells them apart.
  RH_DB_CREATED="$(cat "${RH_DIR}/db-created")"
  export LTC_REHEARSAL_DISTRIBUTION_ID RH_DB_CREATED
}

rh::seed_bootstrap() {
  aws_ ssm put-parameter --name /cdk-bootstrap/hnb659fds/version --value 21 --type String >/dev/null
  aws_ s3 mb "s3://${RH_CDK_BUCKET}" >/dev/null
}

rh::seed_dns() {
  local zone set weight batch
  zone="$(aws_ route53 create-hosted-zone --name "${RH_ZONE_NAME}" \
    --caller-reference "rehearsal-$(date +%s%N)" --query HostedZone.Id --output text)"
  batch='{"Changes":['
  for set in blue:100 green:0 maintenance:0; do
    weight="${set#*:}" set="${set%%:*}"
    batch+="{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"${RH_RECORD}.\",\"Type\":\"CNAME\",\"SetIdentifier\":\"${set}\",\"Weight\":${weight},\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"${set}.origin.${RH_ZONE_NAME}\"}]}},"
  done
  batch="${batch%,}]}"
  aws_ route53 change-resource-record-sets --hosted-zone-id "${zone}" --change-batch "${batch}" >/dev/null
}

rh::container() {
  printf '[{"name":"%s","image":"ghcr.io/lightningtalk/%s:%s","memory":512,"essential":true}]' "$1" "$1" "$2"
}

rh::seed_ecs() {
  local s
  aws_ ecs create-cluster --cluster-name "${RH_CLUSTER}" >/dev/null
  for s in "${RH_SERVICES[@]}"; do
    aws_ ecs register-task-definition --family "${s}" --container-definitions "$(rh::container "${s}" 1.8.0)" >/dev/null
    aws_ ecs register-task-definition --family "${s}" --container-definitions "$(rh::container "${s}" 1.9.0)" >/dev/null
    aws_ ecs create-service --cluster "${RH_CLUSTER}" --service-name "${s}" \
      --task-definition "${s}:2" --desired-count 2 >/dev/null
  done
}

rh::seed_rds() {
  aws_ rds create-db-instance --db-instance-identifier "${RH_DB}" --engine postgres \
    --db-instance-class db.t3.micro --allocated-storage 20 --master-username ltc \
    --master-user-password rehearsal-only --query DBInstance.InstanceCreateTime --output text >"${RH_DIR}/db-created"
}

rh::seed_site() {
  local src="${RH_DIR}/site-v1"
  rh::write_release "${src}" 1.9.0
  printf 'console.log("v1");\n' >"${src}/app.js"
  printf '<h1>About (v1)</h1>\n' >"${src}/about.html"
  aws_ s3 mb "s3://${RH_BUCKET}" >/dev/null
  aws_ s3api put-bucket-versioning --bucket "${RH_BUCKET}" --versioning-configuration Status=Enabled
  aws_ s3 sync --quiet "${src}" "s3://${RH_BUCKET}"
  aws_ cloudfront create-distribution --origin-domain-name "${RH_BUCKET}.s3.amazonaws.com" \
    --default-root-object index.html --query Distribution.Id --output text >"${RH_DIR}/distribution-id"
}

rh::seed_alarms() {
  local name
  for name in ltc-critical-api-error-rate ltc-critical-api-p95-latency; do
    aws_ cloudwatch put-metric-alarm --alarm-name "${name}" --namespace LightningTalk \
      --metric-name "${name#ltc-critical-}" --statistic Average --period 60 --evaluation-periods 1 \
      --threshold 5 --comparison-operator GreaterThanThreshold
  done
}

# --- independent reads of the end state (the AWS CLI, never the toolkit) ---

RH_FAILS=0
rh::expect() {
  local what="$1" want="$2" got="$3"
  if [[ "${got}" == "${want}" ]]; then
    log::info "verified: ${what} = ${want}"
  else
    log::error "NOT verified: ${what}: want '${want}', got '${got}'"
    RH_FAILS=$((RH_FAILS + 1))
  fi
}

rh::zone_id() {
  aws_ route53 list-hosted-zones-by-name --dns-name "${RH_ZONE_NAME}" --query 'HostedZones[0].Id' --output text
}

# "blue=100 green=0 maintenance=0", sorted by set id.
rh::weights() {
  aws_ route53 list-resource-record-sets --hosted-zone-id "$(rh::zone_id)" |
    jq -r --arg n "${RH_RECORD}." '[.ResourceRecordSets[] | select(.Name == $n and .SetIdentifier != null)
      | "\(.SetIdentifier)=\(.Weight)"] | sort | join(" ")'
}

rh::stack_states() {
  aws_ cloudformation describe-stacks |
    jq -r '[.Stacks[] | select(.StackName | startswith("LightningTalk-")) | .StackStatus] | group_by(.) | map("\(length) \(.[0])") | join(", ")'
}

rh::task_definitions() {
  local args=() s
  for s in "${RH_SERVICES[@]}"; do args+=("${s}"); done
  aws_ ecs describe-services --cluster "${RH_CLUSTER}" --services "${args[@]}" |
    jq -r '[.services[] | "\(.serviceName)=\(.taskDefinition | split("/") | last)x\(.desiredCount)"] | sort | join(" ")'
}

rh::snapshots() {
  aws_ rds describe-db-snapshots --snapshot-type manual |
    jq -r '[.DBSnapshots[] | select(.DBSnapshotIdentifier | startswith("pre-deploy-")) | .Status] | "\(length) \(unique | join(","))"'
}

# Current site content, compared file by file with a local release folder.
rh::site_matches() {
  local want="$1" got="${RH_DIR}/site-now"
  rm -rf "${got}"
  aws_ s3 sync --quiet "s3://${RH_BUCKET}" "${got}"
  diff -r "${want}" "${got}" >&2 && echo same || echo different
}
