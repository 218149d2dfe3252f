"""Two ``koprik serve`` nodes on one PostgreSQL catalogue behind nginx, configured with
``contrib/nginx/koprik.conf``: a harvester paging through the proxy over HTTPS is sent to
both nodes (round robin; nginx names the node in ``X-Koprik-Node``), one answering the tokens
the other issued, and gets every record once, Identify announces the proxy's address, a node
trusting nginx (``server.trusted_proxies``) logs the client nginx names, not an address the
client wrote itself, plain HTTP is sent on to HTTPS, and the operators' paths answer the
library's network only. With the database gone, clients get the nodes' 503 and its Retry-After
through the proxy, not nginx's 502 once it took both nodes for failed."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import itertools
import shutil
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, Settings
from tests.conftest import ROOT, free_port
from tests.postgres import postgres_cluster
from tests.servers import running

pytestmark = [pytest.mark.interop, pytest.mark.postgres]

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RECORDS, PAGE = 55, 10
FORGED, CLIENT = "198.51.100.1", "127.0.0.3"
LIBRARY = "127.0.0.2"
"""A client in the library's network (the sample's placeholder 192.0.2.0/24 made this one)."""
SAMPLE = ROOT / "contrib" / "nginx" / "koprik.conf"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    certificate, key = folder / "proxy.pem", folder / "proxy.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return certificate, key


def _nginx_config(
    folder: Path, listen: int, plain: int, nodes: tuple[int, int], certificate: tuple[Path, Path]
) -> Path:
    """The sample configuration with our ports, certificate and network, inside the few lines a
    whole nginx.conf needs."""
    sample = SAMPLE.read_text()
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{plain};",
        "listen 443 ssl;": f"listen 127.0.0.1:{listen} ssl;",
        "/etc/ssl/certs/oai.natlib.uz.pem": str(certificate[0]),
        "/etc/ssl/private/oai.natlib.uz.key": str(certificate[1]),
        "allow 192.0.2.0/24;": f"allow {LIBRARY};",
    }
    for default, port in zip((8080, 8081), nodes, strict=True):
        replacements[f"server 127.0.0.1:{default} "] = f"server 127.0.0.1:{port} "
    for old, new in replacements.items():
        assert sample.count(old) == 1, old
        sample = sample.replace(old, new)
    config = folder / "nginx.conf"
    config.write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "user root;\nevents {}\nhttp {\n"
        f"access_log {folder}/access.log;\nclient_body_temp_path {folder}/body;\n"
        f"proxy_temp_path {folder}/proxy;\n{sample}\n}}\n"
    )
    return config


def _get(port: int, path: str, source: str, tls: ssl.SSLContext | None,
         headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET ``path`` through nginx from the loopback address ``source`` (nginx reaches the
    nodes from 127.0.0.1); the response, read."""
    if tls is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                                source_address=(source, 0))
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                                 source_address=(source, 0), context=tls)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_a_harvester_paging_through_both_nodes_gets_every_record_once(tmp_path: Path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proxy, plain, nodes = free_port(), free_port(), (free_port(), free_port())
    base_url = f"https://127.0.0.1:{proxy}/oai"
    certificate = _certificate(tmp_path)
    tls = ssl.create_default_context(cafile=str(certificate[0]))
    with contextlib.ExitStack() as stack:  # the nodes and nginx, which outlive the database
        database = stack.enter_context(contextlib.ExitStack())
        url = f"{database.enter_context(postgres_cluster(free_port(), durable=False))}/postgres"
        settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
        catalog = Catalog.open(settings)
        with catalog.writer() as writer:
            for record in demo_records(RECORDS, seed=21):
                writer.put(record)
        catalog.close()
        for number, port in enumerate(nodes):
            config = tmp_path / f"node{number}.toml"
            config.write_text(
                f'[repository]\nbase_url = "{base_url}"\n[database]\nurl = "{url}"\n'
                f"[server]\nhttp_port = {port}\nz3950_port = {free_port()}\n"
                'trusted_proxies = ["127.0.0.1"]\nhttp_max_connections_per_address = 512\n'
                f"[oai]\npage_size = {PAGE}\n"
            )
            stack.enter_context(running(
                [sys.executable, "-m", "koprik", "--config", str(config), "serve",
                 "--no-scheduler"],
                tmp_path / f"node{number}.out", f"http://127.0.0.1:{port}/health",
                start_seconds=60, stop_seconds=30,
            ))  # fmt: skip
        conf = _nginx_config(tmp_path, proxy, plain, nodes, certificate)
        stack.enter_context(running(
            [nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
            tmp_path / "nginx.out", f"https://127.0.0.1:{proxy}/health",
            start_seconds=60, stop_seconds=30, tls=tls,
        ))  # fmt: skip
        assert _get(proxy, "/health", CLIENT, tls, {"X-Forwarded-For": FORGED}).status == 200
        redirect = _get(plain, "/oai?verb=Identify", CLIENT, None)
        assert (redirect.status, redirect.headers["Location"]) == (
            301, "https://127.0.0.1/oai?verb=Identify")
        for path in ("/records", "/partner", "/sru", "/static/oai2.xsl"):  # open to everyone
            assert _get(proxy, path, CLIENT, tls).status == 200, path
        for path in ("/signin", "/sources", "/runs/1", "/api/sources", "/metrics"):
            assert _get(proxy, path, CLIENT, tls).status == 403, path  # outside the library
            assert _get(proxy, path, LIBRARY, tls).status != 403, path
        with urllib.request.urlopen(f"{base_url}?verb=Identify", timeout=30,
                                    context=tls) as response:  # fmt: skip
            identify = etree.fromstring(response.read())
        # SRU explain names the address the client reached: the proxy's port, not 443
        with urllib.request.urlopen(f"https://127.0.0.1:{proxy}/sru", timeout=30,
                                    context=tls) as response:  # fmt: skip
            explain = response.read()
        served_by: list[str] = []
        identifiers: list[str] = []
        query = {"verb": "ListRecords", "metadataPrefix": "marc21"}
        while True:
            with urllib.request.urlopen(f"{base_url}?{urllib.parse.urlencode(query)}",
                                        timeout=60, context=tls) as response:  # fmt: skip
                served_by.append(response.headers["X-Koprik-Node"])
                root = etree.fromstring(response.read())
            identifiers += [h.findtext(f"{OAI}identifier") for h in root.iter(f"{OAI}header")]
            token = root.findtext(f".//{OAI}resumptionToken")
            if not token:
                break
            query = {"verb": "ListRecords", "resumptionToken": token}
        database.close()  # the cluster stopped: each node answers 503, with when to ask again
        answers = [_get(proxy, "/oai?verb=Identify", CLIENT, tls) for _ in range(8)]
        assert [a.status for a in answers] == [503] * 8
        assert {a.headers["Retry-After"] for a in answers} == {str(settings.oai.retry_after)}
    assert identify.findtext(f".//{OAI}baseURL") == base_url
    assert f"<host>127.0.0.1</host><port>{proxy}</port>".encode() in explain, explain
    assert root.findtext(f"{OAI}request") == base_url
    assert len(identifiers) == len(set(identifiers)) == RECORDS
    assert len(served_by) == -(-RECORDS // PAGE)
    assert set(served_by) == {f"127.0.0.1:{port}" for port in nodes}
    # a token one node issued answered by the other (nginx's round robin may send two
    # pages in a row to one node, as after a stale keepalive connection)
    assert any(a != b for a, b in itertools.pairwise(served_by))
    logged = "".join((tmp_path / f"node{n}.out").read_text() for n in range(len(nodes)))
    assert f'koprik.access: {CLIENT} (for {FORGED}, {CLIENT}) "GET /health ' in logged

