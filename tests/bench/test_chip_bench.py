"""`station bench chip` computes its figures from the recorded APDUs (no sleeping)."""

from __future__ import annotations

import argparse

from station.bench import chip
from station.sim.vpcd import Latency


def test_bench_chip_figures_are_consistent() -> None:
    args = argparse.Namespace(seed=2, dg2_kb=5.0, repeat=1, no_pcsc=True)
    result = chip.run(args, lambda _msg: None)
    by_name = {row[0]: row for row in result.rows}
    assert set(by_name) == {"basic", "face_extended", "face_short"}
    for _name, apdus, minimum, ratio, _max_read, modelled, cpu, wall, floor in result.rows:
        assert apdus >= minimum and ratio == round(apdus / minimum, 3)
        assert floor > minimum  # the minimum has no SELECT and no separate header read
        # At least 25 ms per APDU, and air time on top.
        assert modelled > apdus * 25
        assert cpu > 0 and wall == "n/a"
    # Extended length needs fewer APDUs than short ones for the same files.
    assert by_name["face_extended"][1] < by_name["face_short"][1]
    assert result.figures["basic_modelled_ms"] == by_name["basic"][5]
    # The read strategy is at the floor (issue #18: a basic CCCD read in 24 APDUs, not 31).
    assert by_name["basic"][1] == by_name["basic"][2]


def test_latency_model_per_byte() -> None:
    assert Latency(25.0, 106_000).delay_s(10, 100) == 0.025 + 110 * 10 / 106_000
