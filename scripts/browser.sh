# The coordinator page's browser tests (tests/browser/: pytest + Playwright driving Debian's chromium, headless)
# against the running local stack, whose page server, identity-provider stand-in and HTTP API they use.
# shellcheck shell=bash
# Sourced by lib.sh; uses its log, $ROOT, $STATE and $VENV.

# The browser the tests launch (Playwright's executable_path; Playwright's own browser downloads are not used).
CHROMIUM=/usr/bin/chromium

# ensure_chromium: Debian's chromium, installed (apt-get, as root) when missing; once per machine.
ensure_chromium() {
  [ -x "$CHROMIUM" ] && return
  log "installing chromium (apt-get) for the coordinator page's browser tests, once per machine"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium ||
    { apt-get update && apt-get install -y --no-install-recommends chromium; }
}

# browser_tests [PYTEST_ARGS...]: the browser tests against the running local stack (PAGE_URL, IDP_URL, API_URL,
# AWS_ENDPOINT_URL, CARGO_TARGET_DIR for the token minter). Screenshots land in .local/screenshots/.
browser_tests() {
  ensure_chromium
  CHROMIUM="$CHROMIUM" "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/browser" "$@"
}
