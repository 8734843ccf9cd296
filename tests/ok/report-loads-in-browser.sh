#!/usr/bin/env bash
# Case (issue 20): a deploy and a rollback each leave report.html in their run
# folder, and both load in headless Chromium (Debian's) with no console message
# at all: the page's self-check (every section, one timeline row per step) logs
# console.error on a problem, and a script that is not the page's own would be
# refused by its Content-Security-Policy, which Chromium logs too. The deploy's
# --reason (LTC_REASON) holds a script tag: shown on the page, never run. A copy
# of the page with a section taken out proves the console is really read.
# expect-exit: 0
# expect-output: deploy report: loads, 8 step rows, self-check ok, 0 console messages
# expect-output: rollback report: loads, 8 step rows, self-check ok, 0 console messages
# expect-output: the reason's script tag: shown escaped yes, ran no
# expect-output: a page without its gates section: self-check failed, console says "section #gates is missing" yes
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/rehearsal/lib.sh
source "${LTC_ROOT}/scripts/rehearsal/lib.sh"
# shellcheck source=scripts/lib/deps.sh
source "${LTC_ROOT}/scripts/lib/deps.sh"

readonly XSS="<script>console.error('xss ran')</script>"

# load FILE: the DOM after the page's script ran (stdout) and Chromium's console
# lines (in FILE.console).
load() {
  local profile
  profile="$(mktemp -d)"
  timeout 90 "${CHROMIUM}" --headless --disable-gpu --no-sandbox --enable-logging=stderr --v=0 \
    --user-data-dir="${profile}" --dump-dom "file://$1" 2>"$1.stderr"
  grep ':CONSOLE' "$1.stderr" >"$1.console" || true
  rm -rf "${profile}"
}

check() {
  local name="$1" file="$2" dom rows selfcheck
  [[ -f "${file}" ]] || { echo "${name} report: missing (${file})"; return 0; }
  dom="$(load "${file}")"
  rows="$(grep -o '<tr class="step ' <<<"${dom}" | wc -l)"
  selfcheck="$(grep -o 'data-selfcheck="[a-z]*"' <<<"${dom}" | cut -d '"' -f 2)"
  echo "${name} report: loads, ${rows} step rows, self-check ${selfcheck:-not run}, $(wc -l <"${file}.console") console messages"
  sed 's/^/  console: /' "${file}.console"
}

main() {
  CHROMIUM="$(deps::chromium)"
  LTC_REASON="release 2.0.0 ${XSS}" "${LTC_ROOT}/runbooks/deploy.sh" --env rehearsal --yes
  "${LTC_ROOT}/runbooks/rollback.sh" --env rehearsal --yes --restore-database
  local deploy rollback
  deploy="$(find "${LTC_RUNS_DIR}" -maxdepth 1 -name '*-deploy-*' | head -n 1)"
  rollback="$(find "${LTC_RUNS_DIR}" -maxdepth 1 -name '*-rollback-*' | head -n 1)"
  check deploy "${deploy}/report.html"
  check rollback "${rollback}/report.html"

  local dom shown=no ran=no
  dom="$(load "${deploy}/report.html")"
  ! grep -qF '&lt;script&gt;console.error(' <<<"${dom}" || shown=yes
  ! grep -q 'xss ran' "${deploy}/report.html.console" || ran=yes
  echo "the reason's script tag: shown escaped ${shown}, ran ${ran}"

  local broken="${RH_DIR}/broken-report.html" said=no
  sed 's/id="gates"/id="gone"/' "${deploy}/report.html" >"${broken}"
  dom="$(load "${broken}")"
  ! grep -qF 'section #gates is missing' "${broken}.console" || said=yes
  echo "a page without its gates section: self-check $(grep -o 'data-selfcheck="[a-z]*"' <<<"${dom}" | cut -d '"' -f 2), console says \"section #gates is missing\" ${said}"
}

main "$@"
