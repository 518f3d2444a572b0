#!/usr/bin/env bash
# Print an access token for a development account, obtained through the
# authorization code flow with PKCE (S256) against the running development
# OIDC provider, as the public client expresso-dev.
#
# Usage: scripts/dev-token.sh EMAIL
#
# Reads the account's password from $EXPRESSO_STATE_DIR/accounts.json
# (default state directory: <repo>/.local) and the issuer from
# $EXPRESSO_STATE_DIR/stack.env, else from $EXPRESSO_OIDC_ISSUER, else
# http://127.0.0.1:8080/realms/expresso. Needs bash, curl, jq and openssl.
set -euo pipefail

readonly CLIENT_ID=expresso-dev
readonly REDIRECT_URI=http://127.0.0.1/dev-token/callback
readonly DEFAULT_ISSUER=http://127.0.0.1:8080/realms/expresso
# Maximum redirects followed after the authorization request. The flow
# needs two (to the login page, then to the authorization resume).
readonly MAX_REDIRECTS=10
readonly CURL_TIMEOUT_SECONDS=10

die() {
  printf 'dev-token.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "$0"
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
esac
[[ $# -eq 1 ]] || { usage >&2; exit 2; }
email=$1

for tool in curl jq openssl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian package: $tool)"
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state_dir=${EXPRESSO_STATE_DIR:-$repo_root/.local}
accounts_file=$state_dir/accounts.json
stack_env=$state_dir/stack.env

issuer=
if [[ -f $stack_env ]]; then
  # shellcheck source=/dev/null
  issuer=$(set +u; . "$stack_env" >/dev/null; printf '%s' "${EXPRESSO_OIDC_ISSUER:-}")
fi
issuer=${issuer:-${EXPRESSO_OIDC_ISSUER:-$DEFAULT_ISSUER}}
issuer=${issuer%/}
origin=$(printf '%s' "$issuer" | sed -E 's#^(https?://[^/]+).*#\1#')

[[ -f $accounts_file ]] || die "accounts file $accounts_file not found: start the stack with scripts/run-local.sh or set EXPRESSO_STATE_DIR"
password=$(jq -r --arg email "$email" \
  'first(.users[] | select((.email | ascii_downcase) == ($email | ascii_downcase)) | .password) // empty' \
  "$accounts_file") || die "cannot parse $accounts_file as JSON"
if [[ -z $password ]]; then
  known=$(jq -r '[.users[].email] | join(", ")' "$accounts_file")
  die "no account with email $email in $accounts_file (known: $known)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar=$work/cookies

# request URL [curl options...]: writes the body to $work/body and sets
# $status and $location (absolute URL of a redirect, else empty).
request() {
  local url=$1 out
  shift
  out=$(curl --silent --show-error --noproxy '*' --max-time "$CURL_TIMEOUT_SECONDS" \
    --cookie "$jar" --cookie-jar "$jar" --output "$work/body" \
    --write-out '%{http_code} %{redirect_url}' "$@" "$url" 2>"$work/curl-error") \
    || die "request to $url failed: $(cat "$work/curl-error"). Is the development OIDC provider running? (scripts/run-local.sh --detach starts it)"
  status=${out%% *}
  location=${out#* }
}

base64url() {
  openssl base64 -A | tr '+/' '-_' | tr -d '='
}

request "$issuer/.well-known/openid-configuration"
[[ $status == 200 ]] || die "no discovery document at $issuer/.well-known/openid-configuration (HTTP $status), check EXPRESSO_OIDC_ISSUER"
authorization_endpoint=$(jq -r '.authorization_endpoint // empty' "$work/body")
token_endpoint=$(jq -r '.token_endpoint // empty' "$work/body")
[[ -n $authorization_endpoint && -n $token_endpoint ]] || die "discovery document at $issuer lacks authorization_endpoint or token_endpoint"

verifier=$(openssl rand 32 | base64url)
challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64url)
state=$(openssl rand 16 | base64url)
nonce=$(openssl rand 16 | base64url)

request "$authorization_endpoint" --get \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "response_type=code" \
  --data-urlencode "scope=openid email profile" \
  --data-urlencode "state=$state" \
  --data-urlencode "nonce=$nonce" \
  --data-urlencode "code_challenge=$challenge" \
  --data-urlencode "code_challenge_method=S256"

# Follow redirects until the provider either shows the login form or sends
# the browser to the callback. Nothing listens at the callback, so it is
# not requested.
callback=
logged_in=false
for ((hop = 0; hop < MAX_REDIRECTS; hop++)); do
  if [[ $status == 30[12378] ]]; then
    if [[ $location == "$REDIRECT_URI"* ]]; then
      callback=$location
      break
    fi
    request "$location"
    continue
  fi

  [[ $status == 200 && $logged_in == false ]] || break
  action=$(sed -n 's/.*<form id="kc-form-login"[^>]*action="\([^"]*\)".*/\1/p' "$work/body" | head -n 1)
  [[ -n $action ]] || break
  action=${action//&amp;/&}
  [[ $action == http* ]] || action=$origin$action
  request "$action" --data-urlencode "username=$email" --data-urlencode "password=$password"
  if [[ $status == 200 ]]; then
    message=$(sed -n 's/.*id="input-error"[^>]*>\([^<]*\)<.*/\1/p' "$work/body" | head -n 1)
    die "login as $email rejected (${message:-the login form did not redirect}), check the password in $accounts_file"
  fi
  logged_in=true
done

if [[ -z $callback ]]; then
  error=$(sed -n 's/.*<strong>error_description<\/strong>: \([^<]*\)<.*/\1/p' "$work/body" | head -n 1)
  die "authorization did not reach $REDIRECT_URI (last HTTP $status${error:+: $error})"
fi

query=${callback#*\?}
# param NAME: prints the decoded value of query parameter NAME.
param() {
  printf '%s' "$query" | tr '&' '\n' | sed -n "s/^$1=//p" | head -n 1 \
    | sed 's/+/ /g; s/%\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g' | xargs -0 printf '%b'
}
returned_state=$(param state)
code=$(param code)
if [[ -z $code ]]; then
  die "authorization failed: $(param error): $(param error_description)"
fi
[[ $returned_state == "$state" ]] || die "state in the callback does not match the request"

request "$token_endpoint" \
  --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "code=$code" \
  --data-urlencode "code_verifier=$verifier"
if [[ $status != 200 ]]; then
  die "token request failed (HTTP $status): $(jq -r '"\(.error // "?"): \(.error_description // "")"' "$work/body" 2>/dev/null || cat "$work/body")"
fi
access_token=$(jq -r '.access_token // empty' "$work/body")
[[ -n $access_token ]] || die "token response has no access_token"
printf '%s\n' "$access_token"
