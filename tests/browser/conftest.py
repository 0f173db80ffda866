"""Fixtures of the coordinator page's browser tests.

Debian's chromium (scripts/browser.sh installs it), headless, driven by Playwright; each test gets a browser of its
own with a new, empty profile, so no sign-in, storage or cache leaks from one test into the next. Every console
message and uncaught page error is kept: a test ends by asserting the page ran under its Content-Security-Policy
without a violation. The local stack's environment (.local/stack.env) says where the page, the identity-provider
stand-in, the HTTP API and the local S3 are.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

# The helpers' asserts (Coordinator.assert_clean_run) report what they compared, as a test's own do.
pytest.register_assert_rewrite("coordinator")
from coordinator import Coordinator, Stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".local" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# No sandbox (the tests run as root in a container), no GPU, and none of the browser's own traffic: every request
# of a test goes to 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The import of a small file takes a few seconds locally; a first invocation may build nothing but still starts cold.
expect.set_options(timeout=60_000)


@pytest.fixture(scope="session")
def stack():
    missing = [name for name in Stack.VARIABLES if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"the browser tests need the local stack's environment ({', '.join(missing)} unset): "
            "start ./scripts/stack, then `set -a; . .local/stack.env; set +a`"
        )
    return Stack.from_environment()


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser_context(playwright, tmp_path):
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1200, "height": 900},
        accept_downloads=True,
    )
    yield context
    context.close()


@pytest.fixture
def app(browser_context, stack, request):
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return Coordinator(page, stack, SCREENSHOTS, name)
