"""The API explorer page (/docs) in a real headless browser, on each engine of host-runner.

For each engine: starts `host-runner serve` on a free port with a fresh DATA_DIR, opens /docs in
Debian's chromium (driven through chromium-driver by Selenium) and checks that
- the page loads with no console error, and loads nothing from another origin (no CDN);
- it lists every path of the API's OpenAPI document (and every tag, when the document has tags),
  so every route group: cats, passengers, configs, data, users and the operations;
- "try it out" on GET /cats, executed in the page, shows a 200 from this server;
then saves a screenshot, target/docs-page-<engine>.png (the server's log: target/docs-page-<engine>.log).

Run by scripts/test-docs-page.sh, which installs the browser and this script's venv:
    python docs_page.py --binary target/debug/host-runner native wasm
"""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from chromium import Failure, browser, check  # noqa: E402 (tests/browser/chromium.py)

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "target"
# The route groups of the API (first path segments) the page must show, whatever the tags.
ROUTE_GROUPS = ["cats", "passengers", "configs", "search", "data", "users", "healthz", "readyz", "openapi.json"]
# The server's configuration comes from this script only (open writes, embedded stores).
CONTROLLED_ENV = ["DATABASE_URL", "REDIS_URL", "API_TOKENS", "AUTH_READS", "BODY_LIMIT", "SPIN_RUNTIME_CONFIG"]
# A debug build compiling the components with a cold cache takes minutes.
START_TIMEOUT = 900
PAGE_TIMEOUT = 60


class Server:
    """`host-runner serve` on a free port with a fresh DATA_DIR, stopped with SIGTERM."""

    def __init__(self, binary, engine):
        self.data_dir = tempfile.mkdtemp(prefix=f"spincrud-docs-page-{engine}-")
        self.log_path = TARGET / f"docs-page-{engine}.log"
        env = {k: v for k, v in os.environ.items() if k not in CONTROLLED_ENV}
        env.update(
            ENGINE=engine,
            LISTEN="127.0.0.1:0",
            DATA_DIR=self.data_dir,
            # Nothing in front of it to drain for: SIGTERM stops it at once.
            DRAIN_PERIOD="0s",
            SPIN_MANIFEST=str(REPO / "spin.toml"),
            WASM_CACHE_DIR=os.environ.get("WASM_CACHE_DIR", str(TARGET / "wasm-cache")),
        )
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "serve"], env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.base = f"http://{self._wait_for_address()}"

    def _wait_for_address(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                try:
                    fields = json.loads(line).get("fields", {})
                except ValueError:
                    continue
                if fields.get("message") == "listening":
                    return fields["addr"]
            if self.proc.poll() is not None:
                raise Failure(f"host-runner exited ({self.proc.returncode}); its log: {self.log_path}")
            time.sleep(0.2)
        raise Failure(f"host-runner did not listen within {START_TIMEOUT} s; its log: {self.log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def http_json(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def operation_block(driver, method, path):
    for block in driver.find_elements(By.CSS_SELECTOR, f".opblock.opblock-{method}"):
        summary = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path")
        if summary.get_attribute("data-path") == path:
            return block
    raise Failure(f"the page has no {method.upper()} {path} operation")


def check_page(driver, base, engine):
    """Every check of one engine's page; returns what it saw, for the summary line."""
    document = http_json("GET", f"{base}/openapi.json")
    driver.get(f"{base}/docs")
    wait = WebDriverWait(driver, PAGE_TIMEOUT)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))

    title = driver.find_element(By.CSS_SELECTOR, ".info .title").text
    check(document["info"]["title"] in title, f"the page's title is {title!r}")
    shown = {e.get_attribute("data-path") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    missing = sorted(set(document["paths"]) - shown)
    check(not missing, f"the page does not list {missing}")
    groups = {p.strip("/").split("/")[0] for p in shown}
    check(set(ROUTE_GROUPS) <= groups, f"the page lacks the route groups {sorted(set(ROUTE_GROUPS) - groups)}")
    tags = {t["name"] for t in document.get("tags", [])}
    tags |= {t for op in document["paths"].values() for o in op.values() if isinstance(o, dict) for t in o.get("tags", [])}
    shown_tags = {e.get_attribute("data-tag") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-tag")}
    check(tags <= shown_tags, f"the page lacks the tags {sorted(tags - shown_tags)}")

    # "Try it out" is on from the start (tryItOutEnabled): expand GET /cats and execute it.
    block = operation_block(driver, "get", "/cats")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, "button.execute"))
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"))
    status = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status").text.strip()
    check(status.startswith("200"), f"GET /cats in the page shows status {status!r}")
    request_url = block.find_element(By.CSS_SELECTOR, ".request-url pre").text.strip()
    check(request_url.startswith(f"{base}/cats"), f"GET /cats went to {request_url}")
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_description").text
    check("Tom" in body, f"GET /cats in the page shows {body[:200]!r}, without the cat created before")

    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    foreign = [r for r in resources if not r.startswith(f"{base}/")]
    check(not foreign, f"the page loaded resources from elsewhere: {foreign}")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(not errors, "console errors:\n  " + "\n  ".join(errors))

    # The top of the page (title, GET /cats executed, its 200 answer), then the whole page.
    screenshot, full = TARGET / f"docs-page-{engine}.png", TARGET / f"docs-page-{engine}-full.png"
    driver.set_window_size(1280, 2000)
    driver.execute_script("window.scrollTo(0, 0)")
    check(driver.save_screenshot(str(screenshot)), f"cannot save {screenshot}")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    full.write_bytes(base64.b64decode(shot["data"]))
    return f"{len(shown)} paths, {len(groups)} route groups, GET /cats {status}, {len(resources)} local assets, {screenshot.relative_to(REPO)}"


def run_engine(binary, engine):
    started = time.monotonic()
    (TARGET / f"docs-page-{engine}-failed.png").unlink(missing_ok=True)
    server = Server(binary, engine)
    user_data_dir = tempfile.mkdtemp(prefix="spincrud-docs-page-chromium-")
    driver = None
    try:
        # Something for GET /cats to show.
        http_json("POST", f"{server.base}/cats", {"name": "Tom", "breed": "Siamese", "age": 3, "color": "black"})
        driver = browser(user_data_dir, extra_flags=["--window-size=1280,1600"])
        try:
            seen = check_page(driver, server.base, engine)
        except Exception:
            driver.save_screenshot(str(TARGET / f"docs-page-{engine}-failed.png"))
            raise
        print(f"docs-page: {engine}: ok ({seen}; {time.monotonic() - started:.1f} s)")
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        shutil.rmtree(user_data_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(TARGET / "debug" / "host-runner"))
    parser.add_argument("engines", nargs="*", metavar="native|wasm", help="default: both")
    args = parser.parse_args()
    engines = args.engines or ["native", "wasm"]
    unknown = set(engines) - {"native", "wasm"}
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}")
    # Selenium's own driver downloader is never needed: the driver's path is given.
    os.environ.setdefault("SE_OFFLINE", "true")
    failed = False
    for engine in engines:
        try:
            run_engine(args.binary, engine)
        except Failure as e:
            print(f"docs-page: {engine}: FAILED: {e}", file=sys.stderr)
            failed = True
        except Exception:  # a browser or HTTP error: the whole story
            print(f"docs-page: {engine}: FAILED:\n{traceback.format_exc()}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
