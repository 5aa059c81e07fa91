"""`station bench chip`: reading the virtual CCCD with the station's terminal side.

For each scenario the read runs in-process against :class:`station.sim.chip.CccdChip` and every
APDU's command and response sizes are recorded; the modelled time applies the latency model
(25 ms per APDU round trip + 106 kbit/s air time, :class:`station.sim.vpcd.Latency`) to those
sizes — deterministic, nothing sleeps. Also reported: the APDU count against the minimum for the
chip's largest read (access control + SELECT AID + per file ⌈size / max read⌉ READ BINARY by
short EF identifier, no SELECT), the terminal's host CPU per read (the chip's own CPU
subtracted), and the real wall time of the same read through pcscd + vpcd without any model.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace

from station.bench import BenchResult, Goal, Progress
from station.nfc import tlv
from station.nfc.crypto import SessionKeys
from station.nfc.password import AccessKey
from station.nfc.session import DEFAULT_FILES, FILE_IDS, ChipSession
from station.nfc.sm import max_plain_read
from station.sim.chip import CardImage, CccdChip, ChipOptions
from station.sim.vpcd import Latency

DESCRIPTION = ("virtual CCCD read: APDUs and modelled time (25 ms/APDU + 106 kbit/s), APDU "
               "count vs minimum, host CPU per read, wall time through pcscd+vpcd")

MODEL = Latency(per_apdu_ms=25.0, bit_rate=106_000)
WITH_FACE = ("COM", "DG1", "DG2", "DG13", "DG14", "DG15", "SOD")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="synthetic citizen (default 1)")
    parser.add_argument("--dg2-kb", type=float, default=20.0, help="DG2 size in KB (20)")
    parser.add_argument("--repeat", type=int, default=5, help="reads per CPU figure (5)")
    parser.add_argument("--no-pcsc", action="store_true",
                        help="skip the wall-time reads through pcscd + vpcd")


@dataclass(frozen=True)
class Scenario:
    name: str
    files: tuple[str, ...]
    extended: bool


SCENARIOS = (
    Scenario("basic", DEFAULT_FILES, extended=False),
    Scenario("face_extended", WITH_FACE, extended=True),
    Scenario("face_short", WITH_FACE, extended=False),
)


class Recorder:
    """A transport straight into the chip that records (command, response) sizes and the
    chip's own CPU time."""

    def __init__(self, chip: CccdChip) -> None:
        self.chip = chip
        self.sizes: list[tuple[int, int]] = []
        self.chip_cpu_s = 0.0
        chip.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        started = time.process_time()
        resp = self.chip.process(apdu)
        self.chip_cpu_s += time.process_time() - started
        self.sizes.append((len(apdu), len(resp)))
        return resp


def _image(seed: int, dg2_bytes: int) -> CardImage:
    from station.sim import issuer
    from station.sim.citizens import generate

    image = issuer.issue(generate(seed))
    # DG2 of the requested size (the face is opaque to the read path): tag 75 + filler.
    head = image.app_files[0x0102][:64]
    dg2 = tlv.encode(0x75, (head * (dg2_bytes // 64 + 1))[:dg2_bytes])
    return replace(image, app_files={**image.app_files, 0x0102: dg2})


# Chip Authentication (MSE:Set AT + GENERAL AUTHENTICATE), the SELECT AID that confirms its
# keys, and Active Authentication (INTERNAL AUTHENTICATE) are part of a genuine read: counted in
# the minimum. Not counted: the EF.CardSecurity probe (ChipSession, only on cards announcing it).
PROOF_APDUS = 4


def minimum_apdus(image: CardImage, files: tuple[str, ...], access_apdus: int,
                  max_read: int) -> int:
    """The floor: each file addressed by its short EF identifier (no SELECT) and read in
    ⌈size / max read⌉ READ BINARY, the first one already at the largest Le (no separate header
    read)."""
    reads = sum(math.ceil(len(image.app_files[FILE_IDS[n]]) / max_read) for n in files)
    return access_apdus + 1 + reads + PROOF_APDUS


def select_floor_apdus(image: CardImage, files: tuple[str, ...], access_apdus: int,
                       max_read: int) -> int:
    """The classic floor a reader without SFI addressing has: one SELECT more per file."""
    return minimum_apdus(image, files, access_apdus, max_read) + len(files)


def _read(image: CardImage, sc: Scenario) -> tuple[Recorder, float, int]:
    chip = CccdChip(image, ChipOptions(extended_length=sc.extended))
    rec = Recorder(chip)
    session = ChipSession(AccessKey.can(image.can), sc.files, extended=sc.extended)
    started = time.process_time()
    result = session.read(rec)
    cpu = time.process_time() - started - rec.chip_cpu_s
    assert result.files == {n: image.app_files[FILE_IDS[n]] for n in sc.files}
    assert session.strategy is not None
    return rec, cpu, session.strategy.max_le


def _access_apdus(image: CardImage) -> int:
    """APDUs of access control: READ BINARY of EF.CardAccess by SFI, MSE:Set AT, four GENERAL
    AUTHENTICATE."""
    rec = Recorder(CccdChip(image))
    from station.nfc.access import establish

    establish(rec, AccessKey.can(image.can))
    return len(rec.sizes)


def _start_testbed() -> object | None:
    """One private pcscd for every wall-time read (libpcsclite keeps the first socket path it
    was given for the life of the process)."""
    from station.testing.pcscd import PcscdTestbed, TestbedUnavailable

    testbed = PcscdTestbed()
    try:
        testbed.start()
    except TestbedUnavailable:
        return None
    testbed.activate()
    return testbed


def _wall_ms(testbed: object, image: CardImage, sc: Scenario) -> float:
    from station.drivers.reader.pcsc import PcscReader
    from station.sim.vpcd import VpcdLink
    from station.testing.pcscd import PcscdTestbed

    assert isinstance(testbed, PcscdTestbed)
    link = VpcdLink(CccdChip(image, ChipOptions(extended_length=sc.extended)),
                    testbed.slot_port(0))
    link.insert()
    conn = PcscReader(testbed.readers[0]).wait_for_card(10)
    try:
        started = time.perf_counter()
        ChipSession(AccessKey.can(image.can), sc.files, extended=sc.extended).read(conn)
        return (time.perf_counter() - started) * 1000
    finally:
        conn.close()
        link.remove()


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    dg2_bytes = int(args.dg2_kb * 1000)
    progress("issuing the virtual card")
    image = _image(args.seed, dg2_bytes)
    access = _access_apdus(image)
    testbed = None if args.no_pcsc else _start_testbed()
    try:
        return _run(args, progress, image, access, dg2_bytes, testbed)
    finally:
        if testbed is not None:
            testbed.stop()  # type: ignore[attr-defined]


def _run(args: argparse.Namespace, progress: Progress, image: CardImage, access: int,
         dg2_bytes: int, testbed: object | None) -> BenchResult:
    rows: list[list[object]] = []
    figures: dict[str, float] = {}
    for sc in SCENARIOS:
        progress(f"reading: {sc.name}")
        cpus = []
        for _ in range(max(1, args.repeat)):
            rec, cpu, max_le = _read(image, sc)
            cpus.append(cpu)
        modelled = sum(MODEL.delay_s(c, r) for c, r in rec.sizes) * 1000
        minimum = minimum_apdus(image, sc.files, access, max_le)
        floor = select_floor_apdus(image, sc.files, access, max_le)
        cpu_ms = sorted(cpus)[len(cpus) // 2] * 1000
        wall = None if testbed is None else _wall_ms(testbed, image, sc)
        rows.append([sc.name, len(rec.sizes), minimum, round(len(rec.sizes) / minimum, 3),
                     max_le, round(modelled, 1), round(cpu_ms, 1),
                     "n/a" if wall is None else round(wall, 1), floor])
        figures[f"{sc.name}_apdus"] = len(rec.sizes)
        figures[f"{sc.name}_apdu_ratio"] = round(len(rec.sizes) / minimum, 3)
        figures[f"{sc.name}_select_floor"] = floor
        figures[f"{sc.name}_modelled_ms"] = round(modelled, 1)
        figures[f"{sc.name}_cpu_ms"] = round(cpu_ms, 1)
        if wall is not None:
            figures[f"{sc.name}_pcsc_wall_ms"] = round(wall, 1)
    figures["cpu_ms_max"] = max(figures[f"{sc.name}_cpu_ms"] for sc in SCENARIOS)
    figures["apdu_ratio_max"] = max(figures[f"{sc.name}_apdu_ratio"] for sc in SCENARIOS)
    short_max = max_plain_read(SessionKeys("AES", bytes(16), bytes(16)))
    return BenchResult(
        name="chip",
        columns=("scenario", "apdus", "minimum", "ratio", "max read", "modelled ms",
                 "host cpu ms", "pcsc wall ms", "select floor"),
        rows=rows,
        figures=figures,
        goals=(Goal("basic_modelled_ms", 1000.0), Goal("face_extended_modelled_ms", 3000.0),
               Goal("cpu_ms_max", 60.0), Goal("apdu_ratio_max", 1.05)),
        notes=(f"model: {MODEL.per_apdu_ms:g} ms per APDU + {MODEL.bit_rate} bit/s "
               "(10 bits per byte) over the recorded APDU sizes",
               f"DG2 {dg2_bytes} bytes; short APDUs carry {short_max} plaintext bytes under "
               "AES SM; face_short's goal is its APDU count (ratio), not its time",
               "host cpu: the terminal side only (the virtual chip's CPU is subtracted), "
               f"median of {max(1, args.repeat)} reads",
               f"minimum = {access} access-control APDUs + SELECT AID + per file "
               f"⌈size / max read⌉ READ BINARY + {PROOF_APDUS} for CA (MSE:Set AT, GENERAL "
               "AUTHENTICATE, SELECT AID) and AA (INTERNAL AUTHENTICATE); the reader reaches "
               "it by reading each file's first chunk by short EF identifier (which also "
               "selects the file) with the largest Le, no separate header read",
               "select floor = the same with a SELECT per file (a reader or chip without SFI "
               "addressing)"),
    )
