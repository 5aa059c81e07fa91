"""Bad input: every parser that meets untrusted bytes raises only typed station errors.

Three drivers over the targets of ``tests.reliability.fuzz``: the regression corpus (replayed
always), hypothesis (raw bytes and mutated seeds) and the deterministic mutation fuzzer;
atheris too when it is installed. Reduced under ``make test``, long under ``make reliability``.
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability import fuzz
from tests.reliability.campaign import Tally, full, scale

CORPUS = Path(__file__).parent / "corpus"
NAMES = sorted(fuzz.TARGETS)
EXAMPLES = scale(25, 1500)


def corpus(name: str) -> list[bytes]:
    d = CORPUS / name
    return [p.read_bytes() for p in sorted(d.glob("*.bin"))] if d.is_dir() else []


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)[-3:])


def test_every_corpus_directory_names_a_target() -> None:
    dirs = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert dirs <= set(fuzz.TARGETS), dirs - set(fuzz.TARGETS)


@pytest.mark.parametrize("name", NAMES)
def test_seeds_and_regression_corpus(name: str) -> None:
    inputs = [*fuzz.seeds(name), *corpus(name)]
    for data in inputs:
        exc = fuzz.run_one(name, data)
        assert exc is None, f"{name} crashes on {data[:40]!r}: {_describe(exc)}"


def test_seeds_are_accepted() -> None:
    """The seeds are valid inputs (mutation starts from the parser's success path): the first
    seed of every target parses without any error."""
    for name in NAMES:
        fuzz.TARGETS[name](fuzz.seeds(name)[0])


def test_fuzz_harness_reports_a_crasher() -> None:
    """The harness itself can fail: a target raising a non-station error is a crasher."""
    fuzz.TARGETS["_probe"] = lambda data: data[5]
    try:
        assert isinstance(fuzz.run_one("_probe", b"abc"), IndexError)
        assert fuzz.run_one("_probe", b"abcdef") is None
    finally:
        del fuzz.TARGETS["_probe"]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not full(),
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_hypothesis_raw_bytes(name: str, data: bytes) -> None:
    exc = fuzz.run_one(name, data)
    assert exc is None, _describe(exc)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not full(),
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), which=st.integers(0, 7), rounds=st.integers(1, 6))
def test_hypothesis_mutated_seeds(name: str, seed: int, which: int, rounds: int) -> None:
    pool = fuzz.seeds(name)
    rng = random.Random(seed)
    data = pool[which % len(pool)]
    for _ in range(rounds):
        data = fuzz.mutate(rng, data, pool)
    exc = fuzz.run_one(name, data)
    assert exc is None, f"{data[:60]!r}: {_describe(exc)}"


def test_mutation_campaign(tally: Tally) -> None:
    runs = scale(150, 20_000)
    reports = [fuzz.campaign(name, runs if name != "config" else runs // 5, seed=1,
                             extra=corpus(name)) for name in NAMES]
    crashers = [(r.target, kind) for r in reports for _, kind in r.crashers]
    tally.record("fuzz: mutation (all targets)", runs=sum(r.runs for r in reports),
                 faults=sum(r.typed_errors for r in reports), crashes=len(crashers),
                 note=f"{len(NAMES)} targets; faults = inputs refused with a typed error")
    assert not crashers, crashers


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("name", NAMES if full() else ["tlv", "lds_dg13", "sm_response_macd"])
def test_atheris(name: str, tmp_path: Path, tally: Tally) -> None:
    """Coverage-guided fuzzing (libFuzzer via atheris) in a subprocess, seeded with the
    target's seeds and regression corpus; a crash leaves its input in ``tmp_path``."""
    work = tmp_path / "corpus"
    work.mkdir()
    for data in [*fuzz.seeds(name), *corpus(name)]:
        (work / fuzz.corpus_name(data)).write_bytes(data)
    runs = scale(300, 30_000)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.fuzz", "atheris", name, f"-runs={runs}",
         f"-artifact_prefix={tmp_path}/", "-max_len=4096", str(work)],
        capture_output=True, text=True, timeout=scale(60, 900),
        cwd=Path(__file__).resolve().parents[2],  # where ``tests`` is importable
    )
    crashes = sorted(tmp_path.glob("crash-*"))
    tally.record(f"fuzz: atheris {name}", runs=runs, crashes=len(crashes) + (proc.returncode != 0))
    assert proc.returncode == 0 and not crashes, (
        f"atheris found a crasher for {name}: {[c.name for c in crashes]}\n{proc.stderr[-3000:]}")


def test_trust_targets_hold_the_security_property() -> None:
    """The trust targets start from inputs that verify (the SOD seed is ``genuine``), and the
    forgery check sees a changed signature: a SOD with one signature bit flipped has other
    signed parts, and is not genuine."""
    sod = fuzz.seeds("trust_pa")[0]
    assert fuzz.TARGETS["trust_pa"](sod) == "genuine"
    sig = fuzz._sod_signed_parts(sod)
    assert sig is not None
    at = sod.rindex(sig[2][-8:]) + 3
    flipped = sod[:at] + bytes((sod[at] ^ 1,)) + sod[at + 1:]
    assert fuzz._sod_signed_parts(flipped) != sig
    assert fuzz.TARGETS["trust_pa"](flipped) == "not-genuine"
    assert fuzz.TARGETS["trust_master_list"](fuzz.seeds("trust_master_list")[0]) == 1
