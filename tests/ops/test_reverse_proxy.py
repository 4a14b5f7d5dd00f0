"""config/nginx/hwms.conf in front of `hwms central api`, with TLS from a test CA: HTTP
redirects to HTTPS, pages and the app's security headers pass through, a logged-in user's
server-sent events arrive unbuffered."""

from __future__ import annotations

import http.cookiejar
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, make_tls, require_tool
from tests.support import api_process, free_port
from tests.web.conftest import PASSWORD

CONF = ROOT / "config" / "nginx" / "hwms.conf"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_the_reverse_proxy_example(ledger_url: str, tmp_path: Path) -> None:
    nginx = require_tool("nginx")
    tls = make_tls(tmp_path)
    api = api_process(ledger_url, tmp_path / "api.log")
    base = next(api)
    http_port, https_port = free_port(), free_port()
    site = CONF.read_text()
    site = site.replace("127.0.0.1:8080", base.removeprefix("http://"))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = site.replace("/etc/hwms/tls/stock.crt", str(tls["cert"]))
    site = site.replace("/etc/hwms/tls/stock.key", str(tls["key"]))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log {tmp_path}/access.log;\n"
        + "".join(f"  {k}_temp_path {tmp_path}/{k};\n"
                  for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path}/site.conf;\n}}\n"
    )  # fmt: skip
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    try:
        https = f"https://127.0.0.1:{https_port}"
        context = ssl.create_default_context(cafile=str(tls["ca"]))
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
        )
        opener.addheaders = [("Accept-Language", "en")]
        deadline = time.monotonic() + 10
        while True:
            try:
                page = opener.open(f"{https}/login", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                time.sleep(0.1)
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
        assert csrf is not None
        plain = urllib.request.build_opener(NoRedirect)
        try:
            plain.open(f"http://127.0.0.1:{http_port}/login", timeout=5)
            raise AssertionError("plain HTTP was served")
        except urllib.error.HTTPError as exc:
            assert exc.code == 301 and exc.headers["Location"].startswith("https://")
        body = urllib.parse.urlencode({"username": "sam", "password": PASSWORD,
                                       "csrf": csrf.group(1)}).encode()  # fmt: skip
        assert "Dashboard" in opener.open(f"{https}/login", body, timeout=5).read().decode()
        started = time.monotonic()
        with opener.open(f"{https}/ui/events", timeout=5) as events:
            first = events.readline()
        assert first.startswith(b"retry:") and time.monotonic() - started < 3  # not buffered
        try:
            opener.open(f"{https}/metrics", timeout=5)
            raise AssertionError("the metrics were served to the outside")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        assert (
            b"hwms_web_scans_total" in urllib.request.urlopen(f"{base}/metrics", timeout=5).read()
        )
    finally:
        proc.terminate()
        proc.wait(10)
        for _ in api:  # the API process stops
            pass
