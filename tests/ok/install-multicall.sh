#!/usr/bin/env bash
# Case: `scripts/install --multicall` installs one binary (ltc) and a link per AWS tool
# (smoke-test stays a binary of its own);
# outside the checkout, with only PATH pointing there, each link is its tool
# (`--version`, `exit-codes`, a usage error's exit 2), the completions and man pages
# come from the tools' own definitions, and a normal install over it replaces the
# links with binaries and removes ltc.
# expect-exit: 0
# expect-output: links: 9 tools -> ltc, smoke-test a binary of its own
# expect-output: version: dns-shift 0.1.0 (commit
# expect-output: usage error through a link: exit 2
# expect-output: reinstalled without --multicall: no links, no ltc
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"

WORK=""

# outside CMD...: runs CMD in WORK with PATH = the prefix's bin and the system's.
outside() {
  (cd "${WORK}" && env -u LTC_BIN_DIR -u CARGO_TARGET_DIR HOME="${WORK}" \
    PATH="${WORK}/p/bin:/usr/local/bin:/usr/bin:/bin" "$@")
}

main() {
  WORK="$(mktemp -d)"
  trap 'rm -rf "${WORK}"' EXIT
  [[ -x "${LTC_BIN_DIR}/ltc" ]] || log::die "no ltc in ${LTC_BIN_DIR} (cargo build --workspace builds it)"
  "${LTC_ROOT}/scripts/install" --multicall --prefix "${WORK}/p" --bin-dir "${LTC_BIN_DIR}"

  [[ -f "${WORK}/p/bin/ltc" && ! -L "${WORK}/p/bin/ltc" ]] || log::die "bin/ltc is not a file"
  local bin links=0
  for bin in "${WORK}"/p/bin/*; do
    [[ "${bin}" == */ltc ]] && continue
    if [[ "${bin}" == */smoke-test ]]; then
      [[ ! -L "${bin}" ]] || log::die "smoke-test is a link"
      continue
    fi
    [[ "$(readlink "${bin}")" == "ltc" ]] || log::die "${bin##*/} is not a link to ltc"
    outside "${bin##*/}" --version | grep -q "^${bin##*/} " || log::die "${bin##*/} --version is not its own"
    links=$((links + 1))
  done
  ((links >= 9)) || log::die "only ${links} links"
  outside smoke-test --version >/dev/null
  echo "links: ${links} tools -> ltc, smoke-test a binary of its own"

  local version
  version="$(outside dns-shift --version)"
  [[ "${version}" == "dns-shift 0.1.0 (commit "* ]] || log::die "dns-shift --version printed '${version}'"
  echo "version: ${version}"
  outside stack-deploy exit-codes | jq -e 'map(.name) | index("refused") != null' >/dev/null
  local rc=0
  outside dns-shift set --zone example.com >/dev/null 2>"${WORK}/err" || rc=$?
  ((rc == 2)) || log::die "a usage error through the link exited ${rc}: $(cat "${WORK}/err")"
  echo "usage error through a link: exit ${rc}"
  grep -q 'complete' "${WORK}/p/share/bash-completion/completions/dns-shift"
  grep -q '^#compdef stack-deploy' "${WORK}/p/share/zsh/site-functions/_stack-deploy"
  local pages
  pages="$(find "${WORK}/p/share/man/man1" -name '*.1' | wc -l)"
  ((pages >= 40)) || log::die "only ${pages} man pages"

  "${LTC_ROOT}/scripts/install" --prefix "${WORK}/p" --bin-dir "${LTC_BIN_DIR}" 2>/dev/null
  [[ ! -e "${WORK}/p/bin/ltc" ]] || log::die "ltc left behind"
  for bin in "${WORK}"/p/bin/*; do
    [[ ! -L "${bin}" ]] || log::die "${bin##*/} is still a link"
  done
  outside dns-shift --version >/dev/null
  echo "reinstalled without --multicall: no links, no ltc"
}

main "$@"
