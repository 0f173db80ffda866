# Shared by the scripts: tools, the local AWS API and the function emulator, step lines, caches.
# Every service binds to 127.0.0.1 on a free port, runs in its own process group, and is stopped on exit.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.local"
mkdir -p "$STATE"
# What is built or installed once per machine and reused by every checkout: the cargo target directory (a fresh
# clone then compiles only the workspace's own crates), the pinned Python tools and the stand-in Lambda base image.
# Cargo rebuilds a crate whose sources are newer than its build, so each checkout gets its own sources built; two
# checkouts building at the *same time* can still take each other's artifacts: give one its own CARGO_TARGET_DIR.
CACHE="${CLINICAL_INGEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clinical-ingest}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
mkdir -p "$CACHE" "$CARGO_TARGET_DIR"
# .venv is a link to the virtualenv of the pinned tools in $CACHE (one per set of pins; see install_tools).
VENV="$ROOT/.venv"
export PATH="$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# The local API accepts any credentials; these keep the SDKs from looking for real ones.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_SESSION_TOKEN=local
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE

# Colours only on a terminal and never with NO_COLOR set (https://no-color.org); the tools we run are told the same.
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
  BOLD=$'\033[1m' RESET=$'\033[0m'
else
  BOLD='' RESET=''
  export NO_COLOR=1 CARGO_TERM_COLOR=never
fi
SCRIPT_STARTED=$SECONDS

# A step line: the time of day and the seconds since the script started, so a log shows what each step took.
log() { printf '%s==> %s (+%ds) %s%s\n' "$BOLD" "$(date +%T)" "$((SECONDS - SCRIPT_STARTED))" "$*" "$RESET" >&2; }

# usage_on_help "$@": with -h or --help, prints the calling script's header comment (its usage) and exits 0.
usage_on_help() {
  case "${1:-}" in
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  esac
}

SERVICE_GROUPS=()

stop_services() {
  for group in "${SERVICE_GROUPS[@]}"; do
    kill -TERM -- "-$group" 2>/dev/null || true
  done
  for group in "${SERVICE_GROUPS[@]}"; do
    while kill -0 -- "-$group" 2>/dev/null; do
      kill -KILL -- "-$group" 2>/dev/null || true
      wait "$group" 2>/dev/null || true
    done
  done
  SERVICE_GROUPS=()
}
trap stop_services EXIT
trap 'exit 130' INT TERM

# pinned_venv LINK NAME REQUIREMENTS [CONSTRAINTS]: a virtualenv in $CACHE with exactly these pins, made once per set
# of pins and Python version (concurrent runs wait for one another), and LINK (in the checkout) pointing at it.
pinned_venv() {
  local link=$1 name=$2 venv pins
  shift 2
  pins=$({ cat "$@"; python3 --version; } | sha256sum | cut -c1-16)
  venv="$CACHE/$name-$pins"
  (
    flock 8
    if [ ! -f "$venv/.installed" ]; then
      log "installing $name (${*#"$ROOT/"}) into ${venv/#"$HOME"/\~}, once per set of pins"
      rm -rf "$venv"
      python3 -m venv "$venv"
      local args=(-r "$1")
      [ "$#" -gt 1 ] && args+=(-c "$2")
      "$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}"
      touch "$venv/.installed"
    fi
  ) 8>"$CACHE/$name.lock"
  if [ "$(readlink "$link" 2>/dev/null)" != "$venv" ]; then
    rm -rf "$link"
    ln -s "$venv" "$link"
  fi
}

# The pinned Python tools (moto, cargo-lambda, aws-sam-cli, schemathesis): .venv.
install_tools() {
  pinned_venv "$VENV" tools "$ROOT/scripts/requirements.txt" "$ROOT/scripts/constraints.txt"
}

# cargo-deny, at a fixed version, built from crates.io once per machine (a few minutes) into ~/.cargo/bin.
CARGO_DENY_VERSION=0.20.2
install_cargo_deny() {
  if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
    log "installing cargo-deny $CARGO_DENY_VERSION (crates.io, once per machine)"
    cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_service NAME COMMAND...: runs COMMAND in a new process group, output to .local/NAME.log.
start_service() {
  local name=$1
  shift
  setsid "$@" >"$STATE/$name.log" 2>&1 &
  SERVICE_GROUPS+=("$!")
  LAST_SERVICE=$!
}

# wait_until NAME PID TIMEOUT_S COMMAND...: polls COMMAND until it succeeds, the service dies or time runs out.
wait_until() {
  local name=$1 pid=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited; its log:" >&2
      tail -n 40 "$STATE/$name.log" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$name not ready after ${timeout}s; its log:" >&2
      tail -n 40 "$STATE/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# The local AWS API (moto: S3 + DynamoDB) with the resources of template.yaml; exports the functions' variables.
# start_aws [ADDRESS]: listens on ADDRESS (default 127.0.0.1), e.g. a docker bridge's, for functions in containers.
start_aws() {
  local port address=${1:-127.0.0.1}
  port=$(free_port)
  start_service moto "$VENV/bin/python" "$ROOT/scripts/moto_server.py" "$address" "$port"
  export AWS_ENDPOINT_URL="http://$address:$port"
  wait_until moto "$LAST_SERVICE" 60 curl -fsS "$AWS_ENDPOINT_URL/moto-api/data.json"
  log "local AWS API on $AWS_ENDPOINT_URL; creating the resources of template.yaml"
  "$VENV/bin/python" "$ROOT/scripts/local_stack.py" provision "$STATE/functions.env" "$STATE/resources.env"
  set -a
  # shellcheck disable=SC1091
  . "$STATE/functions.env"
  # shellcheck disable=SC1091
  . "$STATE/resources.env"
  set +a
}

# The functions behind cargo-lambda's emulator; exports FUNCTION_URL and LAMBDA_INVOKE_PORT. Clients reach the API
# through start_gateway, which adds what API Gateway does in front (cargo lambda watch has no JWT authorizer).
start_functions() {
  local port
  port=$(free_port)
  # An import that continues invokes its own function: through the emulator, never a real Lambda endpoint.
  cp "$STATE/functions.env" "$STATE/watch.env"
  echo "AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$port" >>"$STATE/watch.env"
  start_service watch cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" --env-file "$STATE/watch.env"
  export LAMBDA_INVOKE_PORT=$port
  export FUNCTION_URL="http://127.0.0.1:$port/lambda-url"
  log "building and starting the functions under cargo lambda watch (port $port)"
  # Ready when the function itself answers (a problem+json 401: the emulator passes on no identity).
  wait_until watch "$LAST_SERVICE" 900 \
    bash -c "curl -sS --max-time 5 '$FUNCTION_URL/submit-questionnaire/' | grep -q '\"code\":\"unauthenticated\"'"
}

# Lambda's DynamoDB stream event source mappings of template.yaml, standing in locally (scripts/local_streams.py):
# reads the tables' streams and invokes the functions through the emulator, so it starts after start_functions.
# Exports STREAMS_URL; `POST $STREAMS_URL/drain` answers once every record already in the streams is delivered.
start_streams() {
  local port
  port=$(free_port)
  start_service streams "$VENV/bin/python" "$ROOT/scripts/local_streams.py" serve --port "$port"
  export STREAMS_URL="http://127.0.0.1:$port"
  log "local DynamoDB stream event sources on $STREAMS_URL"
  wait_until streams "$LAST_SERVICE" 60 curl -fsS "$STREAMS_URL/health"
}

# S3's notification of the import bucket to the import function (template.yaml's NotificationConfiguration), standing
# in locally for uploads at the keys the import API chooses only (scripts/local_s3_events.py; every other upload's test
# invokes the import itself): lists the bucket's versions and invokes the function through the emulator, so it starts
# after start_functions. Exports S3_EVENTS_URL; `POST $S3_EVENTS_URL/drain` answers once every version already in the
# bucket is delivered.
start_s3_events() {
  local port
  port=$(free_port)
  start_service s3-events "$VENV/bin/python" "$ROOT/scripts/local_s3_events.py" serve --port "$port"
  export S3_EVENTS_URL="http://127.0.0.1:$port"
  log "local S3 event notifications of the import bucket on $S3_EVENTS_URL"
  wait_until s3-events "$LAST_SERVICE" 60 curl -fsS "$S3_EVENTS_URL/health"
}

# The HTTP API of template.yaml in front of the emulator: routes, JWT authorizer and scopes (tests/src/gateway.rs).
# Exports API_URL, GATEWAY_ROUTES and LOCAL_JWT_SECRET (a fresh key per run; tokens come from `local-gateway mint`).
start_gateway() {
  local port
  port=$(free_port)
  cargo build --locked --quiet -p integration-tests --bin local-gateway
  export GATEWAY_ROUTES="$STATE/api-routes.json"
  # The coordinator page's port is chosen here: the API's CORS allows the page's origin (start_page serves it there).
  PAGE_PORT=$(free_port)
  "$VENV/bin/python" "$ROOT/scripts/local_stack.py" api-routes "$GATEWAY_ROUTES" "http://127.0.0.1:$PAGE_PORT"
  LOCAL_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  export LOCAL_JWT_SECRET
  GATEWAY_EMULATOR="http://127.0.0.1:$LAMBDA_INVOKE_PORT" GATEWAY_PORT=$port \
    start_service gateway "$CARGO_TARGET_DIR/debug/local-gateway" serve
  export API_URL="http://127.0.0.1:$port"
  log "local HTTP API (routes and JWT authorizer of template.yaml) on $API_URL"
  wait_until gateway "$LAST_SERVICE" 30 bash -c "curl -s -o /dev/null -w '%{http_code}' '$API_URL/' | grep -q 404"
}

# The coordinator page (web/ and its /config.json, with the security headers of template.yaml's response headers
# policy, the CSP naming the local origins) and the identity provider's sign-in stand-in it signs in with, one process
# (tests/src/page.rs, tests/src/idp.rs; the users are in scripts/local-users.json). After start_gateway, which built
# local-gateway and chose the page's port (the API's CORS allows its origin). Exports PAGE_URL and IDP_URL.
start_page() {
  local idp_port
  idp_port=$(free_port)
  export PAGE_URL="http://127.0.0.1:$PAGE_PORT" IDP_URL="http://127.0.0.1:$idp_port"
  # The page uploads with the import API's pre-signed URLs: locally, path-style URLs of the local S3.
  "$VENV/bin/python" "$ROOT/scripts/local_stack.py" page-config "$STATE/page.json" "$API_URL" "$AWS_ENDPOINT_URL" \
    "$IDP_URL"
  PAGE_ROOT="$ROOT/web" PAGE_CONFIG="$STATE/page.json" PAGE_PORT=$PAGE_PORT IDP_PORT=$idp_port \
    LOCAL_USERS="$ROOT/scripts/local-users.json" start_service page "$CARGO_TARGET_DIR/debug/local-gateway" page
  log "coordinator page on $PAGE_URL, its identity provider's stand-in on $IDP_URL"
  wait_until page "$LAST_SERVICE" 30 curl -fsS -o /dev/null "$PAGE_URL/config.json"
}

# The whole local stack: the AWS API, the functions, their event sources, the HTTP API and the coordinator page;
# its environment written to .local/stack.env (set -a; . .local/stack.env; set +a) for tests run beside it.
start_stack() {
  install_tools
  start_aws
  start_functions
  start_streams
  start_s3_events
  start_gateway
  start_page
  env | grep -E '^(AWS_[A-Z_]+|CARGO_TARGET_DIR|FUNCTION_URL|API_URL|STREAMS_URL|S3_EVENTS_URL|GATEWAY_ROUTES|LOCAL_JWT_SECRET|LAMBDA_INVOKE_PORT|PAGE_URL|IDP_URL|RESOURCE_[A-Za-z]+)=' >"$STATE/stack.env"
  cat "$STATE/functions.env" >>"$STATE/stack.env"
}

# A token of the local identity provider: local_token SUB "SCOPE ..." [GROUP ...] (cognito:groups, e.g. staff).
local_token() {
  "$CARGO_TARGET_DIR/debug/local-gateway" mint "$@"
}

# fuzz_api MAX_EXAMPLES MIN_CASES: schemathesis against the local HTTP API (openapi.json) with every check and phase,
# as two patients, a staff member and a site's coordinator (tests/fuzz/schemathesis.toml), then the requests it does
# not generate, each with the answer it must get (tests/fuzz/test_special_cases.py). Fails on any failed check or
# warning, when fewer than MIN_CASES cases ran, when an operation's fuzzing phase ran fewer than 90% of MAX_EXAMPLES,
# or when the run never followed a link of openapi.json (tests/fuzz/check_report.py), and on any failed special case.
# Runs all three first.
fuzz_api() {
  local examples=$1 min_cases=$2 report="$STATE/schemathesis" failed=0
  rm -rf "$report"
  export SCHEMATHESIS_WFC_AUTH="$STATE/fuzz-identities.json"
  # The coordinator's site (tests/fuzz/hooks.py gives generated announcements and lists this study and site).
  export FUZZ_GRANT="FUZZ-STUDY/SITE-A"
  # The first identity, which schemathesis tries first on every operation: a site's coordinator, through an app
  # granted every scope (escalating past identities an operation refuses would leave some operations' coverage phase
  # with refusals only).
  local EVERY_SCOPE="questionnaires/submit questionnaires/read imports/upload imports/read"
  "$VENV/bin/python" - "$SCHEMATHESIS_WFC_AUTH" \
    "coordinator=$(local_token fuzz-coordinator "$EVERY_SCOPE" "site:$FUZZ_GRANT")" \
    "patient-a=$(local_token fuzz-patient-a 'questionnaires/submit questionnaires/read')" \
    "patient-b=$(local_token fuzz-patient-b 'questionnaires/submit questionnaires/read')" \
    "staff=$(local_token fuzz-nurse 'questionnaires/read' staff)" <<'PY'
import json, sys
users = [arg.split("=", 1) for arg in sys.argv[2:]]
auth = [{"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]} for name, token in users]
json.dump({"schemaVersion": "0.2.0", "auth": auth}, open(sys.argv[1], "w"))
PY
  log "fuzzing the HTTP API with schemathesis (up to $examples examples per operation)"
  PYTHONPATH="$ROOT/tests/fuzz" SCHEMATHESIS_HOOKS=hooks "$VENV/bin/st" \
    --config-file "$ROOT/tests/fuzz/schemathesis.toml" run "$ROOT/openapi.json" \
    --url "$API_URL" --checks all \
    --mode all --phases examples,coverage,fuzzing,stateful --max-examples "$examples" --seed 20261127 \
    --generation-database none --workers 2 --no-color --report json,ndjson --report-dir "$report" || failed=1
  "$VENV/bin/python" "$ROOT/tests/fuzz/check_report.py" "$report" "$ROOT/openapi.json" "$examples" "$min_cases" ||
    failed=1
  log "requests schemathesis does not generate, each with the answer it must get"
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/fuzz/test_special_cases.py" || failed=1
  return "$failed"
}

# shellcheck source=scripts/browser.sh
. "$ROOT/scripts/browser.sh"
