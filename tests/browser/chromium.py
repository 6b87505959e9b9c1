"""What the page tests (tests/docs-page, tests/cors-page) share: Debian's chromium through
chromium-driver and Selenium, headless and kept from reaching any host but the ones a test
names, and how a test reports a failed check."""

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# As root Chromium needs --no-sandbox; the rest keeps it from reaching any host but the tests'.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def browser(user_data_dir, extra_flags=(), logs=("browser",)):
    """A headless Chromium with its own profile directory, keeping the named logs (`browser`,
    and `performance` for the network log: what went over the wire, which a page cannot read)."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + list(extra_flags) + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {log: "ALL" for log in logs})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
