from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from station.pipeline.outbox import Outbox


def station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station", "outbox", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_status_list_purge(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.add_many([(f"r{i}", i, "t", b"SEALED" * 10, "authentic") for i in range(1, 6)])
    box.mark_acked([1, 2])
    box.close()
    st = json.loads(station("status", "--path", str(path), "--json").stdout)
    assert (st["pending"], st["acked"], st["last_seq"], st["full"]) == (3, 2, 5, False)
    listing = station("list", "--path", str(path))
    assert listing.returncode == 0 and "r5" in listing.stdout and "SEALED" not in listing.stdout
    assert station("purge", "--path", str(path)).returncode == 1  # --acked is required
    assert json.loads(station("purge", "--acked", "--path", str(path), "--json").stdout) == {
        "purged": 2}
    st = json.loads(station("status", "--path", str(path), "--json").stdout)
    assert (st["pending"], st["acked"]) == (3, 0)
