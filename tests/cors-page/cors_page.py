"""CORS in a real headless browser, from a page on another origin, on each engine.

For each engine (host-runner native and wasm, and the Spin CLI): starts the API on a free port
with a fresh data directory, API tokens and CORS_ORIGINS (Spin: cors_origins) naming one origin
of a small page server, then opens tests/cors-page/page.html in Debian's chromium (through
chromium-driver and Selenium) twice:
- from the listed origin (http://127.0.0.1:<page port>): a preflighted create (Authorization,
  JSON, X-Request-Id), a preflighted PATCH with If-Match, a 412 and a 401 the page can read, a
  list whose X-Total-Count and Link the page reads and follows (with Prefer: preflighted), and
  /openapi.json, which the browser receives gzip-compressed (read from its network log);
- from an origin that is not listed (http://localhost:<page port>): both a simple and a
  preflighted request fail in the page, and the preflighted one never reaches the API.

Run by scripts/test-cors-page.sh, which installs the browser and this script's venv:
    python cors_page.py --binary target/debug/host-runner native wasm spin
"""

import argparse
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from urllib.parse import quote

from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from chromium import Failure, browser, check  # noqa: E402 (tests/browser/chromium.py)

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "target"
HERE = Path(__file__).resolve().parent
TOKEN = "cors-page-token"
# The server's configuration comes from this script only.
CONTROLLED_ENV = ["DATABASE_URL", "REDIS_URL", "API_TOKENS", "AUTH_READS", "BODY_LIMIT", "CORS_ORIGINS", "SPIN_RUNTIME_CONFIG", "DRAIN_PERIOD"]
START_TIMEOUT = 900
PAGE_TIMEOUT = 60


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """The API under test: `host-runner serve` (native or wasm) or `spin up`, stopped with SIGTERM."""

    def __init__(self, engine, binary, spin, origins):
        self.engine = engine
        self.dir = tempfile.mkdtemp(prefix=f"spincrud-cors-page-{engine}-")
        self.log_path = TARGET / f"cors-page-{engine}.log"
        env = {k: v for k, v in os.environ.items() if k not in CONTROLLED_ENV and not k.startswith("SPIN_VARIABLE_")}
        if engine == "spin":
            port = free_port()
            migrations = sorted((REPO / "migrations" / "sqlite").glob("*.sql"))
            command = [spin, "up", "--from", str(REPO / "spin.toml"), "--state-dir", f"{self.dir}/state",
                       "--listen", f"127.0.0.1:{port}"]
            for m in migrations:
                command += ["--sqlite", f"@{m}"]
            env.update(SPIN_VARIABLE_API_TOKENS=TOKEN, SPIN_VARIABLE_CORS_ORIGINS=origins)
        else:
            command = [str(Path(binary).resolve()), "serve"]
            # Nothing in front of it to drain for: SIGTERM stops it at once.
            env.update(ENGINE=engine, LISTEN="127.0.0.1:0", DATA_DIR=self.dir, API_TOKENS=TOKEN, CORS_ORIGINS=origins,
                       SPIN_MANIFEST=str(REPO / "spin.toml"), DRAIN_PERIOD="0s",
                       WASM_CACHE_DIR=os.environ.get("WASM_CACHE_DIR", str(TARGET / "wasm-cache")))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(command, env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://{self._wait_for_address()}"

    def _wait_for_address(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("Serving http://"):
                    return line.removeprefix("Serving http://").strip().rstrip("/")
                try:
                    fields = json.loads(line).get("fields", {})
                except ValueError:
                    continue
                if fields.get("message") == "listening":
                    return fields["addr"]
            if self.proc.poll() is not None:
                raise Failure(f"{self.engine}: the server exited ({self.proc.returncode}); its log: {self.log_path}")
            time.sleep(0.2)
        raise Failure(f"{self.engine}: the server did not listen within {START_TIMEOUT} s; its log: {self.log_path}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class PageServer:
    """Serves page.html on 127.0.0.1 (and so on http://localhost too: another origin)."""

    def __init__(self):
        handler = functools.partial(Quiet, directory=str(HERE))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def run_page(driver, url):
    driver.get(url)
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: d.execute_script("return window.corsResult !== undefined"))
    return driver.execute_script("return window.corsResult")


def responses(driver):
    """The answers the browser received since the last call: (url, method, status, lower-cased headers)."""
    requests, out = {}, []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["method"]
        elif message["method"] == "Network.responseReceived":
            r = params["response"]
            out.append((r["url"], requests.get(params["requestId"]), r["status"], {k.lower(): v for k, v in r["headers"].items()}))
    return out


def check_allowed(driver, api, listed, engine):
    tag = "corspage" + secrets.token_hex(4)
    page = f"{listed}/page.html?expect=allowed&api={quote(api.base_url)}&token={TOKEN}&tag={tag}"
    result = run_page(driver, page)
    steps = result["steps"]
    where = f"{engine}, from {listed}"
    check("error" not in result, f"{where}: the page failed: {result}")
    for name, s in steps.items():
        check(s["ok"], f"{where}: {name} failed in the browser: {s}")
    create = steps["create"]
    check(create["status"] == 201, f"{where}: create: {create}")
    check(create["location"] == f"/cats/{create['id']}", f"{where}: the page reads Location: {create}")
    check(create["etag"] and create["etag"].startswith('"'), f"{where}: the page reads ETag: {create}")
    check(create["requestId"] == "cors-page-create", f"{where}: the page sends and reads X-Request-Id: {create}")
    patch = steps["patch"]
    check(patch["status"] == 200 and patch["age"] == 4 and patch["etag"] != create["etag"], f"{where}: PATCH with If-Match: {patch}")
    check(steps["stale"] == {"ok": True, "status": 412, "type": "https://spincrud.dev/problems/precondition-failed"},
          f"{where}: a stale If-Match's 412 is readable: {steps['stale']}")
    listing = steps["list"]
    check(listing["status"] == 200 and listing["total"] == "2" and listing["first"] == ["Browser cat"], f"{where}: list: {listing}")
    check(listing["link"] and "cursor=" in listing["link"], f"{where}: the page reads the Link: {listing}")
    check(listing["secondStatus"] == 200 and listing["second"] == ["Second"] and listing["applied"] == "count=none",
          f"{where}: following the Link (with Prefer): {listing}")
    check(steps["unauthorized"] == {"ok": True, "status": 401, "type": "https://spincrud.dev/problems/unauthorized"},
          f"{where}: a 401 is readable: {steps['unauthorized']}")
    check(steps["openapi"]["tags"] == ["cats", "passengers", "configs", "data", "users", "operations"], f"{where}: openapi: {steps['openapi']}")

    seen = responses(driver)
    preflights = [(u, s, h) for u, m, s, h in seen if m == "OPTIONS"]
    actual = [(u, m, s, h) for u, m, s, h in seen if u.startswith(api.base_url) and m != "OPTIONS"]
    check(actual, f"{where}: the browser's network log has no answer of the API")
    for url, method, status, headers in actual:
        check(headers.get("access-control-allow-origin") == listed, f"{where}: {method} {url} ({status}): {headers}")
    if preflights:  # Chromium reports preflights in its network log; the fetches above needed them anyway.
        for url, status, headers in preflights:
            check(status == 204 and headers.get("access-control-allow-origin") == listed, f"{where}: preflight {url}: {status} {headers}")
    openapi = [h for u, m, s, h in actual if u == f"{api.base_url}/openapi.json"]
    check(openapi and openapi[0].get("content-encoding") == "gzip", f"{where}: /openapi.json reached the browser gzipped: {openapi}")
    check("accept-encoding" in openapi[0].get("vary", "").lower(), f"{where}: with Vary: Accept-Encoding: {openapi}")
    return len(actual), len(preflights)


def check_refused(driver, api, unlisted, engine):
    tag = "corsrefused" + secrets.token_hex(4)
    result = run_page(driver, f"{unlisted}/page.html?expect=refused&api={quote(api.base_url)}&token={TOKEN}&tag={tag}")
    where = f"{engine}, from {unlisted}"
    for name in ["simple", "preflighted"]:
        s = result["steps"][name]
        check(not s["ok"] and "TypeError" in s["error"], f"{where}: the {name} request should fail in the page: {s}")
    # The refused preflight kept the POST from being sent: nothing was created.
    check(not api.cats_tagged(tag), f"{where}: the refused POST reached the API")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(any("CORS" in e for e in errors), f"{where}: the console names CORS: {errors}")


class ApiClient:
    def __init__(self, base_url):
        self.base_url = base_url

    def cats_tagged(self, tag):
        import urllib.request

        with urllib.request.urlopen(f"{self.base_url}/cats?color={tag}", timeout=30) as resp:
            return json.load(resp)


def run_engine(engine, binary, spin):
    started = time.monotonic()
    page = PageServer()
    listed, unlisted = f"http://127.0.0.1:{page.port}", f"http://localhost:{page.port}"
    server = Api(engine, binary, spin, listed)
    user_data_dir = tempfile.mkdtemp(prefix="spincrud-cors-page-chromium-")
    driver = None
    try:
        api = ApiClient(server.base)
        # The network log shows the coding of an answer, which a page cannot read.
        driver = browser(user_data_dir, logs=("browser", "performance"))
        answers, preflights = check_allowed(driver, api, listed, engine)
        check_refused(driver, api, unlisted, engine)
        print(f"cors-page: {engine}: ok ({answers} answers read from {listed}, {preflights} preflights seen, "
              f"gzip received; refused from {unlisted}; {time.monotonic() - started:.1f} s)")
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        page.stop()
        shutil.rmtree(user_data_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(TARGET / "debug" / "host-runner"))
    parser.add_argument("--spin", help="the Spin CLI, for the spin engine")
    parser.add_argument("engines", nargs="*", metavar="native|wasm|spin", help="default: native and wasm")
    args = parser.parse_args()
    engines = args.engines or ["native", "wasm"]
    unknown = set(engines) - {"native", "wasm", "spin"}
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}")
    if "spin" in engines and not args.spin:
        parser.error("the spin engine needs --spin")
    os.environ.setdefault("SE_OFFLINE", "true")
    failed = False
    for engine in engines:
        try:
            run_engine(engine, args.binary, args.spin)
        except Failure as e:
            print(f"cors-page: {engine}: FAILED: {e}", file=sys.stderr)
            failed = True
        except Exception:
            print(f"cors-page: {engine}: FAILED:\n{traceback.format_exc()}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
