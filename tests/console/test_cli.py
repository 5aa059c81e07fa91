"""`station console` from the command line: accounts and tokens into the database, then
`serve` answering on its port, and the audit log printed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from station.console.store import ConsoleStore
from station.testing.ports import free_port


def _station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_accounts_tokens_and_serve(tmp_path: Path) -> None:
    db = str(tmp_path / "ingest.sqlite3")
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery\n")
    short = tmp_path / "short"
    short.write_text("short\n")
    bad = _station("console", "--db", db, "add-user", "x", "--role", "clerk",
                   "--password-file", str(short))
    assert bad.returncode == 1 and "at least 10" in bad.stderr
    r = _station("console", "--db", db, "add-user", "lan", "--role", "clerk", "--desk",
                 "desk-a", "--password-file", str(pw))
    assert r.returncode == 0, r.stderr
    assert _station("console", "--db", db, "bind", "lan", "desk-b").returncode == 0
    again = _station("console", "--db", db, "add-user", "lan", "--role", "admin",
                     "--password-file", str(pw))
    assert again.returncode == 1 and "exists" in again.stderr
    token = _station("console", "--db", db, "add-token", "lan", "--label", "his").stdout.strip()
    assert len(token) >= 40
    store = ConsoleStore(db)
    user = store.token_user(token)
    assert user is not None and user.desks == {"desk-a", "desk-b"}
    store.close()

    port = free_port()
    secret = tmp_path / "console.secret"
    proc = subprocess.Popen([sys.executable, "-m", "station", "console", "--db", db, "serve",
                             "--port", str(port), "--secret-file", str(secret)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r2 = httpx.get(f"http://127.0.0.1:{port}/api/v1/desks/desk-a/readings",
                               headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert r2.status_code == 200 and r2.json()["readings"] == []
        assert oct(secret.stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert f"console on http://127.0.0.1:{port}/" in out
    assert "Traceback" not in err
    assert _station("console", "--db", db, "revoke-tokens", "lan").stdout.startswith("1 token")
    audit = _station("console", "--db", db, "audit")
    assert audit.returncode == 0
