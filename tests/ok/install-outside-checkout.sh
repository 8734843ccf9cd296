#!/usr/bin/env bash
# Case: scripts/install puts the binaries, completions, man pages and runbooks under
# a prefix (here from the already built LTC_BIN_DIR: --bin-dir skips the release
# build); outside the checkout, with only PATH pointing there, `dns-shift --version`
# answers with the commit field, bash completes `dns-shift sh<TAB>` to `shift show`
# from the installed completion file, every man page renders with `man -l` without
# a warning, and an installed runbook (policy.sh) finds the binaries on PATH.
# expect-exit: 0
# expect-output: version: dns-shift 0.1.0 (commit
# expect-output: completion of 'dns-shift sh': shift show
# expect-output: man pages rendered without warnings:
# expect-output: installed runbook used the binaries on PATH
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"
# shellcheck source=scripts/lib/deps.sh
source "${LTC_ROOT}/scripts/lib/deps.sh"

WORK=""

# outside CMD...: runs CMD in WORK with PATH = the prefix's bin and the system's,
# no LTC_BIN_DIR and a HOME without shell start-up files.
outside() {
  (cd "${WORK}" && env -u LTC_BIN_DIR -u CARGO_TARGET_DIR HOME="${WORK}" \
    PATH="${WORK}/p/bin:/usr/local/bin:/usr/bin:/bin" "$@")
}

# complete LINE: what the installed bash completion offers for LINE (the last
# word being completed), sorted, on one line.
complete_line() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  outside bash -ic '
    source "$1"
    read -r -a COMP_WORDS <<<"$2"
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$2" COMP_POINT=${#2}
    fn="$(complete -p dns-shift | sed -n "s/.* -F \([^ ]*\) .*/\1/p")"
    "${fn}" dns-shift "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort | paste -sd " "
  ' _ "${WORK}/p/share/bash-completion/completions/dns-shift" "$1" 2>/dev/null
}

main() {
  deps::debian man-db
  WORK="$(mktemp -d)"
  trap 'rm -rf "${WORK}"' EXIT
  "${LTC_ROOT}/scripts/install" --prefix "${WORK}/p" --bin-dir "${LTC_BIN_DIR}"

  local version
  version="$(outside dns-shift --version)"
  [[ "${version}" == "dns-shift 0.1.0 (commit "* ]] || log::die "dns-shift --version printed '${version}'"
  echo "version: ${version}"
  local bin count=0
  for bin in "${WORK}"/p/bin/*; do
    outside "$(basename "${bin}")" --version >/dev/null
    count=$((count + 1))
  done
  ((count >= 9)) || log::die "only ${count} binaries installed"

  local words
  words="$(complete_line "dns-shift sh")"
  [[ "${words}" == "shift show" ]] || log::die "completion of 'dns-shift sh' offered '${words}'"
  echo "completion of 'dns-shift sh': ${words}"
  grep -q '^#compdef dns-shift' "${WORK}/p/share/zsh/site-functions/_dns-shift"
  grep -q '^complete -c dns-shift' "${WORK}/p/share/fish/vendor_completions.d/dns-shift.fish"

  local page text pages=0
  for page in "${WORK}"/p/share/man/man1/*.1; do
    text="$(MANWIDTH=100 outside man -l "${page}" 2>"${WORK}/man.err")"
    [[ ! -s "${WORK}/man.err" ]] || log::die "man -l ${page##*/}: $(head -n 3 "${WORK}/man.err")"
    grep -q '^NAME' <<<"${text}" || log::die "man -l ${page##*/} has no NAME section"
    pages=$((pages + 1))
  done
  # man justifies lines: squeeze the spaces before looking for words.
  text="$(MANWIDTH=100 outside man -l "${WORK}/p/share/man/man1/dns-shift-shift.1" | tr -s ' ')"
  grep -q 'Exit codes: 0 success' <<<"${text}" || log::die "dns-shift-shift.1 has no exit codes"
  grep -q 'dns-shift shift --zone example.com' <<<"${text}" || log::die "dns-shift-shift.1 has no examples"
  ((pages >= 40)) || log::die "only ${pages} man pages"
  echo "man pages rendered without warnings: ${pages}"

  # The rehearsal settings name the checkout's fixture assembly; an installed set
  # has runbooks but no fixtures, so the assembly is named as an operator would.
  LTC_REHEARSAL_ASSEMBLY="${LTC_ROOT}/fixtures/cdk.out" \
    outside "${WORK}/p/share/ltc/runbooks/policy.sh" --env rehearsal >"${WORK}/policy.json" 2>"${WORK}/policy.err" ||
    log::die "installed policy.sh failed: $(tail -n 3 "${WORK}/policy.err")"
  grep -qF "binaries: ${WORK}/p/bin (PATH" "${WORK}/policy.err" ||
    log::die "installed policy.sh did not say it used PATH: $(head -n 3 "${WORK}/policy.err")"
  jq -e '.Statement | length > 0' "${WORK}/policy.json" >/dev/null
  echo "installed runbook used the binaries on PATH"
}

main "$@"
