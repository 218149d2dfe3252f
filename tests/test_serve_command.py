"""``koprik demo --if-empty`` and ``koprik serve`` as ``make serve`` runs them."""

import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import free_port


def test_demo_then_serve_then_stop(tmp_path):
    port = free_port()
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        f"[server]\nhttp_port = {port}\nz3950_port = {free_port()}\n"
    )
    base = [sys.executable, "-m", "koprik", "--config", str(config)]
    loaded = subprocess.run([*base, "demo", "--records", "40", "--if-empty"],
                            capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "demo: 40 added"
    again = subprocess.run([*base, "demo", "--records", "40", "--if-empty"],
                           capture_output=True, text=True, timeout=120)
    assert "already has records" in again.stdout

    server = subprocess.Popen([*base, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        url = f"http://127.0.0.1:{port}/oai?verb=ListIdentifiers&metadataPrefix=oai_dc"
        deadline = time.monotonic() + 30
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, server.stderr.read() if server.poll() else ""
                time.sleep(0.2)
        assert body.count("<identifier>") == 40
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert "Traceback" not in server.stderr.read()
