#!/usr/bin/env bash
# Case: a production environment (LTC_ENV_NAME=prod) with no --yes and no terminal:
# the deploy refuses at once with exit 2 and changes nothing.
# expect-exit: 2
# expect-output: refusing to deploy in production ('prod') without --yes
# seed: no
set -Eeuo pipefail
# shellcheck source=scripts/lib/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/log.sh"

main() {
  local file="${RH_DIR}/prodlike.env"
  sed 's/^LTC_ENV_NAME=.*/LTC_ENV_NAME=prod/' "${LTC_ROOT}/env/rehearsal.env" >"${file}"
  LTC_ENV_FILE="${file}" "${LTC_ROOT}/runbooks/deploy.sh" --env prodlike </dev/null
}

main "$@"
