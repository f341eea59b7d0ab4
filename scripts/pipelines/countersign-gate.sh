#!/bin/sh
# Countersign deployment gate: asks Countersign whether this commit may deploy to this step's
# deployment environment. Run it as the first command of the deployment step, with the step's
# OIDC token minted for the audience countersign-deployment-gate.
#
#   sh scripts/countersign-gate.sh [--wait SECONDS] [--interval SECONDS]
#
# Needs COUNTERSIGN_GATE_URL (a repository or workspace variable), and BITBUCKET_STEP_OIDC_TOKEN
# and BITBUCKET_COMMIT, which Pipelines sets. --wait keeps asking while the answer is "not yet"
# (403 with code APPROVALS_MISSING, or DEPLOYMENT_REJECTED, which a new approval from the same
# person can withdraw), every --interval seconds (default 15), until allowed or SECONDS have passed.
# Any other refusal (wrong commit, ref not allowed, merge required, ...) cannot change by waiting
# and is final at once.
#
# Exit status: 0 allowed; 1 refused (or still refused when --wait ran out); 2 the token was not
# accepted; 3 anything else (missing variables, network, server errors): it never fails open.

wait_for=0
interval=15
while [ $# -gt 0 ]; do
  case "$1" in
    --wait) wait_for=${2-}; shift; [ $# -gt 0 ] && shift ;;
    --interval) interval=${2-}; shift; [ $# -gt 0 ] && shift ;;
    *) echo "countersign: unknown option $1 (use --wait SECONDS, --interval SECONDS)" >&2; exit 3 ;;
  esac
done

fail() { echo "countersign: $1" >&2; exit 3; }
is_count() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; }

is_count "$wait_for" || fail "--wait takes a number of seconds."
is_count "$interval" && [ "$interval" -gt 0 ] || fail "--interval takes a number of seconds above 0."
[ -n "${COUNTERSIGN_GATE_URL-}" ] || fail "COUNTERSIGN_GATE_URL is not set; add it as a repository or workspace variable (the gate URL from Countersign's settings)."
[ -n "${BITBUCKET_STEP_OIDC_TOKEN-}" ] || fail "BITBUCKET_STEP_OIDC_TOKEN is not set; give the step 'oidc: audiences: [countersign-deployment-gate]'."
case "${BITBUCKET_COMMIT-}" in
  *[!0-9a-f]*) fail "BITBUCKET_COMMIT is not a full 40-hex commit." ;;
esac
[ ${#BITBUCKET_COMMIT} -eq 40 ] || fail "BITBUCKET_COMMIT is not a full 40-hex commit."

# One request. Sets $status (000 when no answer came) and $answer (the body).
# The token goes to curl on stdin as a config line, so it is never in a process's arguments.
ask() {
  answer=$(printf 'header = "Authorization: Bearer %s"\n' "$BITBUCKET_STEP_OIDC_TOKEN" |
    curl --silent --show-error --config - --connect-timeout 10 --max-time 60 \
      --request POST --header 'Content-Type: application/json' \
      --data "{\"commit\":\"$BITBUCKET_COMMIT\"}" \
      --write-out '\n%{http_code}' "$COUNTERSIGN_GATE_URL")
  status=${answer##*
}
  answer=${answer%"$status"}
  case "$status" in [0-9][0-9][0-9]) ;; *) status=000 ;; esac
}

# The gate's "message", or the whole answer when it has none; never the token.
say() {
  message=$(printf '%s' "$answer" | sed -n 's/.*"message"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$message" ] || message=$(printf '%s' "$answer" | tr -d '\n' | cut -c 1-500)
  case "$message" in *"$BITBUCKET_STEP_OIDC_TOKEN"*) message='(the answer is not shown: it contained the token)' ;; esac
  echo "countersign: $1${message:+: $message}"
}

# The gate's "code", or nothing when the answer has none.
code_of() {
  printf '%s' "$answer" | tr -d '\n' | sed -n 's/.*"code"[[:space:]]*:[[:space:]]*"\([A-Z_]*\)".*/\1/p' | head -n 1
}

waited=0
while :; do
  ask
  case "$status" in
    200) say "allowed"; exit 0 ;;
    403)
      case "$(code_of)" in
        APPROVALS_MISSING | DEPLOYMENT_REJECTED) ;;
        *) say "refused"; exit 1 ;;
      esac
      left=$((wait_for - waited))
      if [ "$left" -le 0 ]; then
        say "refused"
        [ "$wait_for" -gt 0 ] && echo "countersign: still refused after waiting ${wait_for}s."
        exit 1
      fi
      pause=$interval
      [ "$pause" -gt "$left" ] && pause=$left
      say "not yet, asking again in ${pause}s"
      sleep "$pause"
      waited=$((waited + pause))
      ;;
    401) say "the gate did not accept this step's token"; exit 2 ;;
    000) echo "countersign: no answer from the gate at COUNTERSIGN_GATE_URL; the deployment is blocked. Run the step again." >&2; exit 3 ;;
    *) say "the gate answered HTTP $status; the deployment is blocked. Run the step again" >&2; exit 3 ;;
  esac
done
