"""`geo-service serve` over HTTPS with its own certificate: what phones need for the field
app (service workers, the camera and geolocation want a secure origin)."""

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from liveserver import free_port
from typer.testing import CliRunner

from geo_service.cli import app

CLI = str(Path(sys.executable).parent / "geo-service")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, as an intranet CA would issue one."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj",
         "/CN=geo-service test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_serve_answers_over_https_with_its_own_certificate(db_url, tmp_path):
    cert, key = _self_signed(tmp_path)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {**os.environ, "DATABASE_URL": db_url, "TLS_KEYFILE": str(key)}
    process = subprocess.Popen(
        [CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--certfile", str(cert)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    trusted = ssl.create_default_context(cafile=str(cert))  # the phone that trusts the CA
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusted, timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, (
            tmp_path / "serve.log"
        ).read_text()
        assert answer.json()["status"] == "ok"
        assert "https://127.0.0.1" in (tmp_path / "serve.log").read_text()
        # A client that does not trust the certificate is refused; plain HTTP gets nothing.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_serve_refuses_a_key_without_a_certificate_or_no_certificate(tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["serve", "--keyfile", str(tmp_path / "key.pem")])
    assert done.exit_code != 0 and "--keyfile needs --certfile" in done.output
    junk = tmp_path / "cert.pem"
    junk.write_text("not a certificate")
    done = runner.invoke(app, ["serve", "--certfile", str(junk)])
    assert done.exit_code != 0 and "not a PEM certificate" in done.output
