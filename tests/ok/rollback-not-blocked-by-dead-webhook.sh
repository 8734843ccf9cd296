#!/usr/bin/env bash
# Case: the webhook is dead during a rollback (first its port is closed, then it
# answers 500): every notification to it fails, the failure is logged as a
# warning with the reason, the SNS topic still gets each event, and the rollback
# runs to the end and exits 0.
# expect-exit: 0
# expect-output: NOTIFICATION rollback-start NOT DELIVERED (exit 3): webhook: could not connect
# expect-output: NOTIFICATION rollback-complete NOT DELIVERED (exit 3): webhook: could not connect
# expect-output: rollback finished: 8 step(s)
# expect-output: rollback with a closed webhook port: exit 0
# expect-output: NOTIFICATION rollback-complete NOT DELIVERED (exit 3): webhook: HTTP 500
# expect-output: rollback with a webhook answering 500: exit 0
# expect-output: sns events: rollback-start rollback-complete rollback-start rollback-complete
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

HOOK_PID=""

stop_hook() {
  [[ -z "${HOOK_PID}" ]] || kill "${HOOK_PID}" 2>/dev/null || true
}

main() {
  trap stop_hook EXIT
  local port code=0
  "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes

  rh::topic_with_queue
  export NOTIFY_SNS_TOPIC_ARN="${RH_TOPIC}" NOTIFY_WEBHOOK_URL_ENV=LTC_CASE_WEBHOOK_URL NOTIFY_TIMEOUT=2s

  # Nothing listens on this port.
  port="$(rh::free_port)"
  export LTC_CASE_WEBHOOK_URL="http://127.0.0.1:${port}/services/T1/B2/dead-hook-token"
  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes || code=$?
  echo "rollback with a closed webhook port: exit ${code}"
  ((code == 0)) || return 1

  # A webhook that answers 500 to everything.
  port="$(rh::free_port)"
  python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "${port}" &
  HOOK_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '' "http://127.0.0.1:${port}/" 2>/dev/null)" == 500 ]] && break
    sleep 0.05
  done
  export LTC_CASE_WEBHOOK_URL="http://127.0.0.1:${port}/services/T1/B2/dead-hook-token"
  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --only validate-rollback || code=$?
  echo "rollback with a webhook answering 500: exit ${code}"

  local messages="${RH_DIR}/sns-messages.jsonl"
  rh::sns_messages "${messages}" 4
  echo "sns events: $(jq -r '.event' "${messages}" | paste -sd ' ')"
}

main "$@"
