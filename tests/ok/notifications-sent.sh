#!/usr/bin/env bash
# Case: with NOTIFY_SNS_TOPIC_ARN and NOTIFY_WEBHOOK_URL_ENV set, a deploy and a
# rollback each send a start and a completion event to both destinations: an SNS
# topic on the emulator (read back from a subscribed SQS queue) and a loopback
# webhook receiver; the completion carries the summary (steps, smoke-test and
# health-gate figures, the run's changes); the webhook's token is written nowhere.
# expect-exit: 0
# expect-output: webhook events: deploy-start deploy-complete rollback-start rollback-complete
# expect-output: sns events: deploy-start deploy-complete rollback-start rollback-complete
# expect-output: deploy-complete summary: 8 steps, load p95 reported, health gates reported, changes reported
# expect-output: webhook token written: nowhere
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

readonly TOKEN="T0KEN-${SRANDOM}-notify-case"
HOOK_PID=""

# A Slack-like incoming webhook on loopback: each POST body as one line of FILE.
start_hook() {
  local port="$1" file="$2"
  python3 -c '
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
' "${port}" "${file}" &
  HOOK_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null -X POST -d '' "http://127.0.0.1:${port}/ready" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the webhook receiver did not start"
  return 1
}

stop_hook() {
  [[ -z "${HOOK_PID}" ]] || kill "${HOOK_PID}" 2>/dev/null || true
}

main() {
  trap stop_hook EXIT
  local port hooks="${RH_DIR}/webhook-bodies.jsonl"
  port="$(rh::free_port)"
  : >"${hooks}"
  start_hook "${port}" "${hooks}"
  : >"${hooks}"
  rh::topic_with_queue

  export NOTIFY_SNS_TOPIC_ARN="${RH_TOPIC}" NOTIFY_WEBHOOK_URL_ENV=LTC_CASE_WEBHOOK_URL
  export LTC_CASE_WEBHOOK_URL="http://127.0.0.1:${port}/services/T1/B2/${TOKEN}"
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes

  echo "webhook events: $(jq -r '.blocks[1].fields[3].text | sub("^\\*Event\\*\n"; "")' "${hooks}" | paste -sd ' ')"
  local messages="${RH_DIR}/sns-messages.jsonl"
  rh::sns_messages "${messages}" 4
  echo "sns events: $(jq -r '.event' "${messages}" | paste -sd ' ')"
  jq -r 'select(.event == "deploy-complete")
    | "deploy-complete summary: \(.steps | length) steps"
      + (if [.figures.smoke[]? | select(.command == "load" and .p95_ms != null)] | length > 0 then ", load p95 reported" else ", NO load figures" end)
      + (if (.figures.health_gates | length) > 0 then ", health gates reported" else ", NO health gates" end)
      + (if .changes_total > 0 then ", changes reported" else ", NO changes" end)' "${messages}"
  local leaks
  leaks="$(grep -rlF -- "${TOKEN}" "${LTC_RUNS_DIR}" "${LTC_JOURNAL}" "${messages}" 2>/dev/null || true)"
  echo "webhook token written: ${leaks:-nowhere}"
}

main "$@"
