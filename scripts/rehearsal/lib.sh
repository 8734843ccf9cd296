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
# The Application Load Balancer in front of the ECS services: blue = current release,
# green = new release (its targets arrive with the release, scripts/rehearsal/publish-release).
readonly RH_LB=ltc-rehearsal
readonly RH_TG_BLUE=ltc-blue
readonly RH_TG_GREEN=ltc-green

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
  export LTC_JOURNAL="${RH_DIR}/journal.jsonl" \
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
  local n="${RH_DIR}/nginx" blue green db cache
  mkdir -p "${n}/logs" "${n}/tmp"
  rh::write_release "${n}/blue" 1.9.0
  rh::write_release "${n}/green" 2.0.0
  : >"${n}/green-mode.conf"
  chmod -R a+rX "${RH_DIR}"
  blue="$(rh::free_port)"
  green="$(rh::free_port)"
  db="$(rh::free_port)"
  cache="$(rh::free_port)"
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
  # Stand-ins for the database's and the cache's TCP endpoints (health-gate tcp gates).
  server { listen 127.0.0.1:${db}; return 444; }
  server { listen 127.0.0.1:${cache}; return 444; }
}
CONF
  nginx -p "${n}" -c "${n}/nginx.conf" -e "${n}/logs/error.log"
  export LTC_REHEARSAL_BLUE_URL="http://127.0.0.1:${blue}" LTC_REHEARSAL_GREEN_URL="http://127.0.0.1:${green}"
  export LTC_REHEARSAL_DB_ADDRESS="127.0.0.1:${db}" LTC_REHEARSAL_CACHE_ADDRESS="127.0.0.1:${cache}"
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

# Waits until the cutover's shift (dns-shift's JSON lines in RUN_DIR) reports
# its first step, or until PID has ended; at most 120 s. Prints the file.
rh::wait_first_step() {
  local run_dir="$1" pid="$2" i files=()
  for ((i = 0; i < 1200; i++)); do
    files=("${run_dir}"/dns-cutover.*.dns-shift-shift.json)
    [[ -f "${files[0]}" ]] && grep -qE '"event": ?"step"' "${files[0]}" && break
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  printf '%s\n' "${files[0]}"
}

# Creates the SNS topic ltc-releases with an SQS queue subscribed (the
# emulator's SNS delivers there, where a case reads it back). Sets RH_TOPIC
# and RH_QUEUE.
rh::topic_with_queue() {
  local qarn
  RH_TOPIC="$(aws_ sns create-topic --name ltc-releases --query TopicArn --output text)"
  RH_QUEUE="$(aws_ --endpoint-url "${AWS_ENDPOINT_URL}" sqs create-queue --queue-name ltc-release-notes --query QueueUrl --output text)"
  qarn="$(aws_ --endpoint-url "${AWS_ENDPOINT_URL}" sqs get-queue-attributes --queue-url "${RH_QUEUE}" --attribute-names QueueArn --query Attributes.QueueArn --output text)"
  aws_ sns subscribe --topic-arn "${RH_TOPIC}" --protocol sqs --notification-endpoint "${qarn}" >/dev/null
}

# Reads the notifications delivered to RH_QUEUE into FILE (each message's JSON,
# one a line) until COUNT have come or ten receives have passed.
rh::sns_messages() {
  local file="$1" count="$2" i
  : >"${file}"
  for ((i = 0; i < 10; i++)); do
    aws_ --endpoint-url "${AWS_ENDPOINT_URL}" sqs receive-message --queue-url "${RH_QUEUE}" --max-number-of-messages 10 --wait-time-seconds 1 |
      jq -c '.Messages[]? | .Body | fromjson | .Message | fromjson' >>"${file}"
    (($(wc -l <"${file}") < count)) || break
  done
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

# Queues one AWS CLI command for rh::batch_run (OUT: file for its stdout, or "").
rh::batch_add() {
  local out="$1"
  shift
  python3 -c 'import json, sys; print(json.dumps({"out": sys.argv[1] or None, "args": sys.argv[2:]}))' \
    "${out}" "$@" >>"${RH_BATCH}"
}

# Runs the queued commands with the AWS CLI's own driver in one process.
rh::batch_run() {
  local code=0
  "${LTC_ROOT}/.venv/bin/python" "${LTC_ROOT}/tools/aws-batch.py" <"${RH_BATCH}" || code=$?
  : >"${RH_BATCH}"
  return "${code}"
}

# The "existing production", created with the AWS CLI.
rh::seed() {
  curl -fsS -X POST -o /dev/null "${AWS_ENDPOINT_URL}/moto-api/reset" || return 1
  : >"${LTC_JOURNAL}"
  # The local state tree sits beside the journal (the binaries' default).
  rm -rf "${RH_DIR}/state"
  rh::green ok >/dev/null 2>&1
  RH_BATCH="${RH_DIR}/batch.jsonl"
  : >"${RH_BATCH}"
  rh::seed_bootstrap
  rh::seed_ecs
  rh::seed_rds
  rh::seed_site
  rh::seed_alarms
  # Healthy CloudWatch metrics for the health gates (env/rehearsal.gates.toml).
  "${LTC_ROOT}/scripts/rehearsal/put-metrics" --emit healthy >>"${RH_BATCH}" || return 1
  rh::batch_add "${RH_DIR}/zone.json" route53 create-hosted-zone --name "${RH_ZONE_NAME}" \
    --caller-reference "rehearsal-$(date +%s%N)"
  # Later commands name ids created earlier in the batch as @{FILE#path} (aws-batch).
  rh::seed_records "@{${RH_DIR}/zone.json#HostedZone.Id}"
  rh::seed_load_balancer
  rh::seed_listener
  rh::batch_run || return 1
  export LTC_REHEARSAL_LB_LISTENER_ARN LTC_REHEARSAL_LB_TG_BLUE LTC_REHEARSAL_LB_TG_GREEN
  LTC_REHEARSAL_LB_LISTENER_ARN="$(jq -r '.Listeners[0].ListenerArn' "${RH_DIR}/listener.json")"
  LTC_REHEARSAL_LB_TG_BLUE="$(jq -r '.TargetGroups[0].TargetGroupArn' "${RH_DIR}/tg-${RH_TG_BLUE}.json")"
  LTC_REHEARSAL_LB_TG_GREEN="$(jq -r '.TargetGroups[0].TargetGroupArn' "${RH_DIR}/tg-${RH_TG_GREEN}.json")"
  LTC_REHEARSAL_DISTRIBUTION_ID="$(jq -r .Distribution.Id "${RH_DIR}/distribution.json")"
  # moto gives every instance the same DbiResourceId; the creation time tells them apart.
  RH_DB_CREATED="$(jq -r .DBInstance.InstanceCreateTime "${RH_DIR}/db.json")"
  export LTC_REHEARSAL_DISTRIBUTION_ID RH_DB_CREATED
}

rh::seed_bootstrap() {
  rh::batch_add "" ssm put-parameter --name /cdk-bootstrap/hnb659fds/version --value 21 --type String
  rh::batch_add "" s3 mb "s3://${RH_CDK_BUCKET}"
  # RH_STATE_BUCKET set: the team's shared state (lock, journal, run records) in S3.
  if [[ -n "${RH_STATE_BUCKET:-}" ]]; then
    rh::batch_add "" s3 mb "s3://${RH_STATE_BUCKET}"
    export LTC_STATE="s3://${RH_STATE_BUCKET}/ltc"
  fi
}

rh::seed_records() {
  local zone="$1" set weight batch='{"Changes":['
  for set in blue:100 green:0 maintenance:0; do
    weight="${set#*:}" set="${set%%:*}"
    batch+="{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"${RH_RECORD}.\",\"Type\":\"CNAME\",\"SetIdentifier\":\"${set}\",\"Weight\":${weight},\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"${set}.origin.${RH_ZONE_NAME}\"}]}},"
  done
  rh::batch_add "" route53 change-resource-record-sets --hosted-zone-id "${zone}" --change-batch "${batch%,}]}"
}

# The load balancer in the default VPC's first two subnets, its two target groups, and
# its listener: by default blue 100 / green 0 (weighted forward), and one path rule
# (/api/* to blue) so that "the rules as before" means more than the default action.
# Blue's two tasks are registered. Queued in the seeding batch: ids created earlier in
# it are named as @{FILE#path}; rh::seed reads the ARNs back for the settings.
rh::seed_load_balancer() {
  local subnets="${RH_DIR}/subnets.json" tg
  rh::batch_add "${subnets}" ec2 describe-subnets --filters Name=default-for-az,Values=true
  rh::batch_add "${RH_DIR}/lb.json" elbv2 create-load-balancer --name "${RH_LB}" --type application \
    --subnets "@{${subnets}#Subnets.0.SubnetId}" "@{${subnets}#Subnets.1.SubnetId}"
  for tg in "${RH_TG_BLUE}" "${RH_TG_GREEN}"; do
    rh::batch_add "${RH_DIR}/tg-${tg}.json" elbv2 create-target-group --name "${tg}" --protocol HTTP \
      --port 8080 --vpc-id "@{${subnets}#Subnets.0.VpcId}" --target-type ip --health-check-path /health
  done
}

rh::seed_listener() {
  local blue="@{${RH_DIR}/tg-${RH_TG_BLUE}.json#TargetGroups.0.TargetGroupArn}"
  local green="@{${RH_DIR}/tg-${RH_TG_GREEN}.json#TargetGroups.0.TargetGroupArn}"
  rh::batch_add "${RH_DIR}/listener.json" elbv2 create-listener \
    --load-balancer-arn "@{${RH_DIR}/lb.json#LoadBalancers.0.LoadBalancerArn}" --protocol HTTP --port 80 \
    --default-actions "[{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"TargetGroupArn\":\"${blue}\",\"Weight\":100},{\"TargetGroupArn\":\"${green}\",\"Weight\":0}]}}]"
  rh::batch_add "" elbv2 create-rule --listener-arn "@{${RH_DIR}/listener.json#Listeners.0.ListenerArn}" --priority 10 \
    --conditions "Field=path-pattern,Values=/api/*" --actions "Type=forward,TargetGroupArn=${blue}"
  rh::batch_add "" elbv2 register-targets --target-group-arn "${blue}" \
    --targets Id=172.31.0.11,Port=8080 Id=172.31.0.12,Port=8080
}

rh::container() {
  printf '[{"name":"%s","image":"ghcr.io/lightningtalk/%s:%s","memory":512,"essential":true}]' "$1" "$1" "$2"
}

# Revisions 1 (1.8.0) and 2 (1.9.0, running) of each service.
rh::seed_ecs() {
  local s
  rh::batch_add "" ecs create-cluster --cluster-name "${RH_CLUSTER}"
  for s in "${RH_SERVICES[@]}"; do
    rh::batch_add "" ecs register-task-definition --family "${s}" --container-definitions "$(rh::container "${s}" 1.8.0)"
    rh::batch_add "" ecs register-task-definition --family "${s}" --container-definitions "$(rh::container "${s}" 1.9.0)"
    rh::batch_add "" ecs create-service --cluster "${RH_CLUSTER}" --service-name "${s}" \
      --task-definition "${s}:2" --desired-count 2
    # Each service scales between 2 and 6 tasks (Application Auto Scaling), as in production.
    rh::batch_add "" application-autoscaling register-scalable-target --service-namespace ecs \
      --scalable-dimension ecs:service:DesiredCount --resource-id "service/${RH_CLUSTER}/${s}" \
      --min-capacity 2 --max-capacity 6 --role-arn "arn:aws:iam::123456789012:role/ecs-autoscaling"
  done
}

rh::seed_rds() {
  rh::batch_add "${RH_DIR}/db.json" rds create-db-instance --db-instance-identifier "${RH_DB}" --engine postgres \
    --db-instance-class db.t3.micro --allocated-storage 20 --master-username ltc \
    --master-user-password rehearsal-only
}

rh::seed_site() {
  local src="${RH_DIR}/site-v1"
  rm -rf "${src}"
  rh::write_release "${src}" 1.9.0
  printf 'console.log("v1");\n' >"${src}/app.js"
  printf '<h1>About (v1)</h1>\n' >"${src}/about.html"
  rh::batch_add "" s3 mb "s3://${RH_BUCKET}"
  rh::batch_add "" s3api put-bucket-versioning --bucket "${RH_BUCKET}" --versioning-configuration Status=Enabled
  rh::batch_add "" s3 sync --quiet "${src}" "s3://${RH_BUCKET}"
  rh::batch_add "${RH_DIR}/distribution.json" cloudfront create-distribution \
    --origin-domain-name "${RH_BUCKET}.s3.amazonaws.com" --default-root-object index.html
}

rh::seed_alarms() {
  local name
  for name in ltc-critical-api-error-rate ltc-critical-api-p95-latency; do
    rh::batch_add "" cloudwatch put-metric-alarm --alarm-name "${name}" --namespace LightningTalk \
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

# The listener's rules, independent of lb-switch: one sorted JSON document per rule,
# ordered by priority (default last), ARNs and the IsDefault flag included.
rh::lb_rules() {
  aws_ elbv2 describe-rules --listener-arn "${LTC_REHEARSAL_LB_LISTENER_ARN}" |
    jq -cS '.Rules | sort_by(if .Priority == "default" then 99999 else (.Priority | tonumber) end)[]'
}

# "STATE STATE ..." of a target group's targets, sorted ("" when it has none).
rh::target_health() {
  aws_ elbv2 describe-target-health --target-group-arn "$1" |
    jq -r '[.TargetHealthDescriptions[] | "\(.Target.Id)=\(.TargetHealth.State)"] | sort | join(" ")'
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
