"""Without pcscd, the reader says so with a typed error (never a pyscard exception)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
from station.drivers.reader.pcsc import PcscReader, list_readers
from station.errors import ReaderUnavailable
for call in (list_readers, lambda: PcscReader().wait_for_card(0.1)):
    try:
        call()
    except ReaderUnavailable as exc:
        print("ReaderUnavailable", exc)
"""


def test_pcscd_absent_is_reader_unavailable(tmp_path: Path) -> None:
    # libpcsclite caches the socket path per process: probe in a fresh one.
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert all(line.startswith("ReaderUnavailable PC/SC service (pcscd) is not reachable")
               for line in lines)
