"""`station read` through the real PC/SC stack (pcscd + vpcd)."""

from __future__ import annotations

import pytest

from station.cli import main
from station.sim.citizens import skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed


def test_missing_reader_exits_1(pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "--reader", "no such reader", "--can", "123456", "--timeout", "1"]) == 1
    assert "ReaderUnavailable" in capsys.readouterr().err


def test_no_card_exits_1(pcscd: PcscdTestbed, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "--reader", pcscd.readers[1], "--can", "123456",
                 "--timeout", "0.3"]) == 1
    assert "NoCard" in capsys.readouterr().err


def test_card_without_pace_and_a_can_exits_1(pcscd: PcscdTestbed,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    link = VpcdLink(FileCard(skeleton_files(5)), pcscd.slot_port(1))
    link.insert()
    try:
        code = main(["read", "--reader", pcscd.readers[1], "--can", "123456", "--timeout", "5"])
    finally:
        link.remove()
    assert code == 1
    assert "no PACE" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--can", "12345"], ["--mrz-key", "1,2"],
                                  ["--qr", "12345|x"]])
def test_bad_keys_are_usage_errors(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["read", *args])
    assert "station read" in str(exc.value.code)
