"""The whole path on real parts: virtual card → pcscd/vpcd → pyscard → record → SQLite outbox →
paho → Mosquitto → ingest."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from station import keys
from station.drivers.reader.pcsc import PcscReader
from station.ingest import Ingest, Received
from station.nfc.session import read_plain
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner, SignedRecord
from station.pipeline.store import OutboxStore
from station.sim.citizens import skeleton_citizen, skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from station.testing.wait import wait_until


def test_card_to_ingest(tmp_path: Path, pcscd: PcscdTestbed, broker: MosquittoBroker) -> None:
    received: list[Received] = []
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(tmp_path / "ingest.sqlite3", broker.settings(),
                    stations={"desk-1": sk.public_key()}, backend_key=bk,
                    on_record=received.append)
    ingest.start()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-1", broker.settings())
    publisher.start()
    store = OutboxStore(outbox, RecordSigner("desk-1", sk, bk.public_key()), publisher)
    reader = PcscReader(pcscd.readers[0])
    expected: list[SignedRecord] = []
    citizens = []
    chips = []
    try:
        for seed in (11, 12):
            files = skeleton_files(seed)
            link = VpcdLink(FileCard(files), pcscd.slot_port(0))
            link.insert()
            conn = reader.wait_for_card(10)
            chip = read_plain(conn)
            chips.append(chip)
            conn.close()
            link.remove()
            assert chip.files["DG1"] == files[0x0101]
            c = skeleton_citizen(seed)
            citizens.append(c)
            citizen = {"id_number": c.id_number, "full_name": f"{c.surname} {c.given_names}"}
            expected += store.store_many([Reading(
                "reception", chip.protocol, "unverified", (Check("passive_authentication",
                                                                 False),), citizen, chip.files)])
        assert wait_until(lambda: len(received) == 2, 10)
        assert wait_until(lambda: outbox.counts()["acked"] == 2, 10)
    finally:
        publisher.stop()
        ingest.stop()
    assert [r.record.record_id for r in received] == [s.record.record_id for s in expected]
    assert received[0].dg_hashes == {  # sealed: only the backend sees them
        n: hashlib.sha256(b).hexdigest() for n, b in sorted(chips[0].files.items())}
    assert received[0].record.seq == 1 and received[1].record.seq == 2
    assert received[1].citizen is not None
    assert received[1].citizen["id_number"] == citizens[1].id_number
    assert ingest.count() == 2
    # No citizen data in clear in the outbox file: the fields are sealed to the backend key.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.sqlite3*"))
    assert b"IDVNM" not in raw
    for c in citizens:
        assert c.id_number.encode() not in raw
        assert f"{c.surname} {c.given_names}".encode() not in raw


def test_demo_exits_0_and_cleans_up() -> None:
    from station.sim.citizens import generate

    proc = subprocess.run([sys.executable, "-m", "station", "demo", "--cards", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # The real desk service: every stage for each genuine card, in order.
    for card in ("card 1", "card 2"):
        lines = [ln.split(f"{card}: ", 1)[1] for ln in out.splitlines() if f"] {card}: " in ln]
        stages = ("QR seen", "card seen", "read (PACE", "verified: genuine", "signed: record",
                  "stored")
        at = [next(i for i, ln in enumerate(lines) if ln.startswith(s)) for s in stages]
        assert at == sorted(at), lines
        # The backend stores it, then its receipt releases the station's copy.
        stored_at = next(i for i, ln in enumerate(lines) if ln.startswith("acknowledged by"))
        released_at = next(i for i, ln in enumerate(lines) if ln.startswith("released by"))
        assert at[-1] < stored_at < released_at, lines
        assert any("CA ok, AA ok" in ln for ln in lines)
    # The forged card (a clone) is read, fails chip authentication and is refused.
    forged = [ln for ln in out.splitlines() if "(forged: a clone):" in ln]
    assert any("verified: not-genuine" in ln for ln in forged), out
    assert any("REFUSED by the desk: not genuine — recorded as refused (outcome and checks "
               "only, no citizen data)" in ln for ln in forged), out
    # The refusal is a record (for the clerk's desk view) with no citizen field in it.
    assert any("signed: record" in ln and "outcome invalid" in ln
               and "0 citizen fields sealed" in ln for ln in forged), out
    assert any("clone): acknowledged by the backend (signature verified, 0 sealed fields "
               "opened" in ln for ln in forged), out
    assert ("3 card(s) tapped (1 forged), 3 stored, 3 acknowledged by the backend, 3 released "
            "by the station on the backend's receipt, 2 genuine, 1 refused as not genuine — all "
            "as expected") in out
    assert "Exception" not in proc.stderr
    # Counts and record ids only: no citizen data on the screen.
    for seed in (1001, 1002, 1003):
        c = generate(seed)
        assert c.id_number not in out + proc.stderr and c.full_name not in out
    pids = [int(p) for p in re.findall(r"pid (\d+)\)", out)]
    assert len(pids) == 2, out  # pcscd and the broker
    for pid in pids:  # every server the demo started is gone
        assert not Path(f"/proc/{pid}").exists()


def _demo_without_mosquitto(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``station demo`` on a machine where Mosquitto is not installed."""
    import argparse

    from station.commands import demo
    from station.testing import mosquitto

    monkeypatch.setattr(mosquitto, "mosquitto_binary", lambda: None)
    rc = demo.run(argparse.Namespace(cards=1))
    return rc, capsys.readouterr().out


def test_demo_without_mosquitto_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Mosquitto is the demo's only broker: without it the demo stops with the remedy, no
    # traceback and nothing tapped.
    rc, out = _demo_without_mosquitto(monkeypatch, capsys)
    assert rc == 1
    assert "station demo: mosquitto is not installed. Run scripts/bootstrap" in out
    assert "card 1" not in out and "summary:" not in out


def test_demo_without_mosquitto_stops_what_it_started(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    # The private pcscd the demo started before the broker failed is stopped again.
    _, out = _demo_without_mosquitto(monkeypatch, capsys)
    pids = [int(p) for p in re.findall(r"pid (\d+)\)", out)]
    assert len(pids) == 1, out  # pcscd: the broker never started
    assert not Path(f"/proc/{pids[0]}").exists()
