#!/usr/bin/env bash
# Case: secrets are never written. Seven secrets are planted: three environment
# values whose names say secret (a smoke-test header token with odd characters, a
# token in a check's query string, the AWS secret key), a gates-file value marked
# secret (`mask`), a gate command carrying `Authorization: Bearer ...`, a webhook URL
# with `token=` and an AWS access key id.
# A deploy and a rollback run at -vv (RUST_LOG as -vv sets it) with them; then every
# byte written (the runbooks' stdout and stderr, the journal, the state folder, the
# run folders with their JSON, records and reports) is searched for each secret
# raw, URL-encoded, JSON-escaped and base64: 0 hits. And nothing in the state and
# run folders is group- or world-readable. (The journal file itself is created by
# the test harness, rh::seed, so its mode is the harness's and is not checked here.)
# expect-exit: 0
# expect-output: deploy finished: 8 step(s)
# expect-output: rollback finished: 8 step(s)
# expect-output: secrets used: gate bearer=yes mask=yes query token=yes
# expect-output: secret hits: 0 in
# expect-output: readable by group or others: 0
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"

# Every form a writer could produce of one secret, one per line.
forms() {
  python3 - "$1" <<'PY'
import base64, json, sys, urllib.parse
s = sys.argv[1]
out = {s, urllib.parse.quote(s, safe=""), urllib.parse.quote(s, safe="").lower(),
       urllib.parse.quote_plus(s), json.dumps(s)[1:-1], json.dumps(json.dumps(s))[1:-1]}
for enc in (base64.b64encode, base64.urlsafe_b64encode):
    b = enc(s.encode()).decode()
    out.update({b, b.rstrip("=")})
print("\n".join(sorted(out)))
PY
}

main() {
  local dir out code=0
  dir="$(mktemp -d)"
  out="${RH_DIR}/secrets-case"
  rm -rf "${out}"
  mkdir -p "${out}"
  # The secrets (none of them is needed by the emulator or the origins).
  local header_token='smk-T0k/en+"odd" 42' bearer='gate-Bearer-7f3a9c21' masked='dbpass-Zx9Yw8Vq'
  local hook_token='whk-tok-55aa91' key_id='AKIAQWERTYUIOPASDF12' secret_key='sak/Q1w2E3r4+T5y6U7i8'
  local query_token='qry-9f8e7d6c5b'
  export LTC_SMOKE_API_TOKEN="${header_token}" LTC_SMOKE_QUERY_TOKEN="${query_token}"
  export AWS_ACCESS_KEY_ID="${key_id}" AWS_SECRET_ACCESS_KEY="${secret_key}"
  export LTC_TEST_WEBHOOK_URL="http://127.0.0.1:9/services/T0/B0?token=${hook_token}"
  export RUST_LOG='debug,hyper=info,h2=info,rustls=info'
  # Checks: every request carries the token from the environment.
  # shellcheck disable=SC2016  # ${LTC_SMOKE_API_TOKEN} is for smoke-test to fill in
  sed 's/^\[\[check\]\]$/[[check]]\nheaders = { Authorization = "Bearer ${LTC_SMOKE_API_TOKEN}" }/' \
    "${LTC_ROOT}/env/checks/rehearsal.toml" >"${dir}/checks.toml"
  # shellcheck disable=SC2016  # ${LTC_SMOKE_QUERY_TOKEN} is for smoke-test to fill in
  printf '\n[[check]]\nname = "health with a key"\npath = "/health?key=${LTC_SMOKE_QUERY_TOKEN}"\nexpect.status = 200\n' \
    >>"${dir}/checks.toml"
  # Gates: the rehearsal's, plus a command gate with a bearer token in its text and a
  # masked value; it prints both, so the forwarding of a gate's output is tested too.
  cp "${LTC_ROOT}/env/rehearsal.gates.toml" "${dir}/gates.toml"
  cat >>"${dir}/gates.toml" <<TOML

[[gate]]
name = "operator-query"
severity = "critical"
source = "command"
command = "echo 'Authorization: Bearer ${bearer}' >&2; echo 'X-Db-Pass: ${masked}'; touch '${dir}/gate-ran'"
mask = ["${masked}"]
timeout = "10s"
TOML
  {
    cat "${LTC_ROOT}/env/rehearsal.env"
    echo "CHECKS_FILE='${dir}/checks.toml'"
    echo "GATES_FILE='${dir}/gates.toml'"
    echo "NOTIFY_WEBHOOK_URL_ENV=LTC_TEST_WEBHOOK_URL"
    echo "NOTIFY_TIMEOUT=2s"
  } >"${dir}/secrets.env"

  LTC_ENV_FILE="${dir}/secrets.env" "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes \
    >"${out}/deploy.out" 2>"${out}/deploy.err" || code=$?
  grep -h 'deploy finished' "${out}/deploy.err" "${out}/deploy.out" || true
  ((code == 0)) || { tail -n 30 "${out}/deploy.err"; return "${code}"; }
  LTC_ENV_FILE="${dir}/secrets.env" "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes \
    >"${out}/rollback.out" 2>"${out}/rollback.err" || code=$?
  grep -h 'rollback finished' "${out}/rollback.err" "${out}/rollback.out" || true
  ((code == 0)) || { tail -n 30 "${out}/rollback.err"; return "${code}"; }

  # The planted values were really used (else 0 hits would prove nothing).
  # (The header token goes with every check; the origins keep no log to show it.)
  local used_bearer=no used_mask=no used_query=no
  [[ -f "${dir}/gate-ran" ]] && used_bearer=yes && used_mask=yes
  grep -rqF '/health?key=***' "${LTC_RUNS_DIR}" && used_query=yes
  echo "secrets used: gate bearer=${used_bearer} mask=${used_mask} query token=${used_query}"

  # Everything written: runbook output, journal, state folder, run folders.
  local state="${RH_DIR}/state" runs="${LTC_RUNS_DIR}" files=() s f hits=0 nfiles
  mapfile -t files < <(find "${out}" "${LTC_JOURNAL}" "${state}" "${runs}" -type f 2>/dev/null)
  nfiles="${#files[@]}"
  for s in "${header_token}" "${query_token}" "${bearer}" "${masked}" "${hook_token}" "${key_id}" "${secret_key}"; do
    while IFS= read -r f; do
      [[ -n "${f}" ]] || continue
      if grep -lF -- "${f}" "${files[@]}" >"${dir}/hit" 2>/dev/null; then
        hits=$((hits + 1))
        echo "LEAK of ${s:0:4}... as '${f}' in: $(tr '\n' ' ' <"${dir}/hit")"
      fi
    done < <(forms "${s}")
  done
  echo "secret hits: ${hits} in ${nfiles} files (7 secrets, raw, URL-encoded, JSON-escaped, base64)"
  local open
  open="$(find "${state}" "${runs}" -perm /077 2>/dev/null | wc -l)"
  echo "readable by group or others: ${open} (of $(find "${state}" "${runs}" | wc -l) files and folders)"
  find "${state}" "${runs}" -perm /077 2>/dev/null | head -n 5
  rm -rf "${dir}"
  [[ "${used_bearer}${used_query}" == yesyes ]] && ((hits == 0 && open == 0))
}

main "$@"
