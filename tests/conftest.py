"""A headless Chromium for the tests of the pages minigrad writes (tests/test_pages.py).

The browser is Debian's `chromium`, driven by playwright against that binary (nothing
downloads a browser).  Without it the page tests are skipped with the reason, except in
CI (CI=true), where .ci/run installs both and a missing browser is a failure.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MINIGRAD_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that reaches out: without the background-networking flags Chromium
# keeps trying to connect, and a closed network refuses it.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing_browser(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the page tests (.ci/run installs chromium and playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """A browser context with a fresh profile, shared by the page tests."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser('playwright is not installed (pip install -e ".[browser]")')
    if not os.access(CHROMIUM, os.X_OK):
        _missing_browser(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MINIGRAD_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="minigrad-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_page(chromium):
    """open_page(path) loads a local HTML file and returns the playwright Page.

    Any script error, or any request that is not for a local file, fails the test:
    the pages must work offline and alone.
    """
    pages, problems = [], []

    def open_(path):
        page = chromium.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:"))
                else problems.append(f"request to {r.url}"))
        page.goto(Path(path).resolve().as_uri())
        pages.append(page)
        assert not problems, problems
        return page

    yield open_
    for page in pages:
        page.close()
    assert not problems, problems


@pytest.fixture
def screenshot_dir(tmp_path):
    """Where page tests save screenshots: tmp_path, or the folder MINIGRAD_GALLERY names
    (MINIGRAD_GALLERY=docs/gallery refreshes the README's pictures)."""
    folder = Path(os.environ.get("MINIGRAD_GALLERY") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
