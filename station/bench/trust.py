"""`station bench trust`: verification CPU time per card.

Passive authentication of a virtual CCCD's files (EF.SOD signed by a brainpoolP256r1 DSC under a
brainpoolP512r1 CSCA written with explicit parameters, like Vietnam's; DG1, DG2, DG13, DG14,
DG15 hashed) against a store loaded once, plus the terminal's side of the real Chip
Authentication exchange (``station.nfc.ca``: DG14 parsed, key chosen, ephemeral ECDH on DG14's
curve, MSE:Set AT + GENERAL AUTHENTICATE + the first command under the new keys, all under
secure messaging) against the virtual chip after PACE, with the chip's own CPU subtracted.
Active Authentication's verification (RSA ISO 9796-2) is reported alongside.
CPU time (``time.process_time``), not wall time: the chip's APDU round trips are the chip
benchmark's business.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from station.bench import BenchResult, Goal, Progress

DESCRIPTION = ("verification CPU time per card: passive authentication + the terminal side of "
               "the chip-authentication exchange (and active authentication)")
GOAL_MS = 40.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=50, help="verifications (default 50)")


def _ms(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:

    from station.nfc.proof import ChipProof
    from station.sim import issuer, pki
    from station.sim.chip import ChipOptions
    from station.sim.citizens import generate
    from station.trust.store import TrustStore
    from station.trust.verdict import GENUINE
    from station.trust.verification import verify

    count = max(1, getattr(args, "count", 50))
    progress("issuing a virtual card under an explicit-parameters CSCA")
    csca = pki.make_csca(explicit=True)
    dsc = pki.make_dsc(csca)
    image = issuer.issue(generate(7), ChipOptions(), signer=dsc)
    names = {0x0101: "DG1", 0x0102: "DG2", 0x010D: "DG13", 0x010E: "DG14", 0x010F: "DG15",
             0x011D: "SOD"}
    files = {names[fid]: data for fid, data in image.app_files.items() if fid in names}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "csca.der").write_bytes(csca.der)
        (Path(d) / "csca.crl").write_bytes(pki.make_crl(csca))
        t0 = time.perf_counter()
        store = TrustStore.load(d)
        load_ms = (time.perf_counter() - t0) * 1000
    # The CCCD advertises CA and AA (EF.SOD lists DG14 and DG15): PA is timed with their
    # proofs folded in, as at the desk; the protocols themselves are timed below.
    proofs = {"chip_authentication": ChipProof("CA", True),
              "active_authentication": ChipProof("AA", True)}
    first = verify(files, store, **proofs)  # type: ignore[arg-type]
    if first.outcome != GENUINE:
        raise RuntimeError(f"benchmark card did not verify: {first.reason}")
    progress(f"{count} verifications and chip/active authentications")
    pa: list[float] = []
    ca_cpu: list[float] = []
    aa_cpu: list[float] = []
    ca_apdus = 0
    for _ in range(count):
        t = time.process_time()
        verify(files, store, **proofs)  # type: ignore[arg-type]
        pa.append(time.process_time() - t)
        ca_s, aa_s, ca_apdus = _chip_proofs(image)
        ca_cpu.append(ca_s)
        aa_cpu.append(aa_s)
    ca = ca_cpu
    total = [a + b for a, b in zip(pa, ca, strict=True)]
    rows = [
        ("passive authentication", round(_ms(pa, 0.5), 2), round(_ms(pa, 0.95), 2)),
        ("chip authentication (terminal side)", round(_ms(ca, 0.5), 2),
         round(_ms(ca, 0.95), 2)),
        ("PA + CA", round(_ms(total, 0.5), 2), round(_ms(total, 0.95), 2)),
        ("active authentication (terminal side)", round(_ms(aa_cpu, 0.5), 2),
         round(_ms(aa_cpu, 0.95), 2)),
    ]
    return BenchResult(
        name="trust", columns=("step", "p50 ms CPU", "p95 ms CPU"), rows=rows,
        figures={"pa_ca_p50_ms": _ms(total, 0.5), "pa_ca_p95_ms": _ms(total, 0.95),
                 "pa_p50_ms": _ms(pa, 0.5), "store_load_ms": load_ms,
                 "ca_p50_ms": _ms(ca, 0.5), "ca_p95_ms": _ms(ca, 0.95), "ca_apdus": ca_apdus,
                 "aa_p50_ms": _ms(aa_cpu, 0.5),
                 "mean_ms": statistics.mean(total) * 1000},
        goals=(Goal("pa_ca_p95_ms", GOAL_MS),),
        notes=(f"{count} runs; card: DG1, DG2 ({len(files['DG2'])} B), DG13, DG14, DG15; "
               "CSCA brainpoolP512r1 explicit parameters, DSC brainpoolP256r1",
               f"CA: ECDH brainpoolP256r1 AES-128 through the virtual chip, {ca_apdus} APDUs "
               "(MSE:Set AT, GENERAL AUTHENTICATE, SELECT under the new keys); the chip's "
               "CPU is subtracted; AA: INTERNAL AUTHENTICATE, RSA-1024 ISO 9796-2"),
    )


class _Terminal:
    """A transport straight into the virtual chip that keeps the chip's CPU time apart."""

    def __init__(self, chip: object) -> None:
        from station.sim.chip import CccdChip

        assert isinstance(chip, CccdChip)
        self.chip = chip
        self.chip_s = 0.0
        self.count = 0
        chip.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        t = time.process_time()
        resp = self.chip.process(apdu)
        self.chip_s += time.process_time() - t
        self.count += 1
        return resp


def _chip_proofs(image: object) -> tuple[float, float, int]:
    """Terminal CPU seconds of one CA and one AA exchange (after PACE, which is not counted),
    and the APDUs CA took."""
    from station.nfc import aa, ca
    from station.nfc.access import establish
    from station.nfc.files import select_application
    from station.nfc.lds.security import parse_dg14, parse_dg15
    from station.nfc.password import AccessKey
    from station.sim.chip import CardImage, CccdChip

    assert isinstance(image, CardImage)
    term = _Terminal(CccdChip(image))
    channel = establish(term, AccessKey.can(image.can)).channel
    select_application(channel)
    term.chip_s, before = 0.0, term.count
    t = time.process_time()
    infos = parse_dg14(image.app_files[0x010E])
    option = ca.choose(infos)
    assert option is not None
    outcome = ca.authenticate(channel, option)
    ca_s = time.process_time() - t - term.chip_s
    if not outcome.ok or outcome.channel is None:
        raise RuntimeError(f"benchmark card failed chip authentication: {outcome.detail}")
    apdus = term.count - before
    term.chip_s = 0.0
    t = time.process_time()
    result = aa.authenticate(outcome.channel, parse_dg15(image.app_files[0x010F]), infos)
    aa_s = time.process_time() - t - term.chip_s
    if not result.ok:
        raise RuntimeError(f"benchmark card failed active authentication: {result.detail}")
    return ca_s, aa_s, apdus
