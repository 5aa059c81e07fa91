"""`station bench trust`: verification CPU time per card.

Passive authentication of a virtual CCCD's files (EF.SOD signed by a brainpoolP256r1 DSC under a
brainpoolP512r1 CSCA written with explicit parameters, like Vietnam's; DG1, DG2, DG13, DG14,
DG15 hashed) against a store loaded once, plus the terminal's Chip Authentication crypto
(ephemeral ECDH key pair on DG14's curve, shared secret, ICAO 9303-11 KDF for both keys).
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

DESCRIPTION = "verification CPU time per card: passive authentication + chip-authentication crypto"
GOAL_MS = 40.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=50, help="verifications (default 50)")


def _ms(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from station.nfc import crypto
    from station.sim import issuer, pki
    from station.sim.chip import ChipOptions
    from station.sim.citizens import generate
    from station.trust.store import TrustStore
    from station.trust.verification import CLONE_UNCHECKED, verify

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
    first = verify(files, store)
    if first.outcome != CLONE_UNCHECKED:
        raise RuntimeError(f"benchmark card did not verify: {first.reason}")
    assert image.ca_key is not None
    chip_public = image.ca_key.public_key()
    chip_point = chip_public.public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    chip_curve = type(chip_public.curve)

    progress(f"{count} verifications")
    pa: list[float] = []
    ca: list[float] = []
    for _ in range(count):
        t = time.process_time()
        verify(files, store)
        pa.append(time.process_time() - t)
        t = time.process_time()
        eph = ec.generate_private_key(chip_curve())
        peer = ec.EllipticCurvePublicKey.from_encoded_point(chip_curve(), chip_point)
        secret = eph.exchange(ec.ECDH(), peer)
        crypto.kdf(secret, crypto.KDF_ENC, "AES", 128)
        crypto.kdf(secret, crypto.KDF_MAC, "AES", 128)
        ca.append(time.process_time() - t)
    total = [a + b for a, b in zip(pa, ca, strict=True)]
    rows = [
        ("passive authentication", round(_ms(pa, 0.5), 2), round(_ms(pa, 0.95), 2)),
        ("chip authentication crypto", round(_ms(ca, 0.5), 2), round(_ms(ca, 0.95), 2)),
        ("PA + CA", round(_ms(total, 0.5), 2), round(_ms(total, 0.95), 2)),
    ]
    return BenchResult(
        name="trust", columns=("step", "p50 ms CPU", "p95 ms CPU"), rows=rows,
        figures={"pa_ca_p50_ms": _ms(total, 0.5), "pa_ca_p95_ms": _ms(total, 0.95),
                 "pa_p50_ms": _ms(pa, 0.5), "store_load_ms": load_ms,
                 "mean_ms": statistics.mean(total) * 1000},
        goals=(Goal("pa_ca_p95_ms", GOAL_MS),),
        notes=(f"{count} runs; card: DG1, DG2 ({len(files['DG2'])} B), DG13, DG14, DG15; "
               "CSCA brainpoolP512r1 explicit parameters, DSC brainpoolP256r1",),
    )
