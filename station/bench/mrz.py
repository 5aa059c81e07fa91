"""`station bench mrz`: MRZ reading on a generated set, against Tesseract's default settings.

The set (``station.sim.mrzimage.generated_set``): OCR-B zones of synthetic CCCDs (TD1), Utopia
passports (TD3) and ID cards (TD2) and the ICAO specimens, on card/passport backgrounds in
1280×720 frames, clean and under each named distortion. Both engines feed the same
``parse_mrz`` (check digits, proven-only repair). "wrong" counts results whose BAC/PACE key
differs from the printed one — it must be 0.
"""

from __future__ import annotations

import argparse
import statistics
import time

from station.bench import BenchResult, Goal, Progress

DESCRIPTION = "MRZ OCR on generated frames: success, wrong keys, p50/p95 ms vs Tesseract"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--per-distortion", type=int, default=8,
                        help="documents per distortion (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated set")
    parser.add_argument("--no-tesseract", action="store_true",
                        help="skip the Tesseract baseline")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    from station.errors import MrzError
    from station.mrz.ocr import prepare, read_mrz
    from station.mrz.parse import parse_mrz
    from station.sim.mrzimage import DISTORTIONS, generated_set

    per = getattr(args, "per_distortion", 8)
    progress(f"rendering {per * len(DISTORTIONS)} frames")
    samples = generated_set(per, seed=getattr(args, "seed", 0))
    prepare()
    engines = {"station": read_mrz}
    notes = []
    if not getattr(args, "no_tesseract", False):
        try:
            from station.mrz.tesseract import TesseractReader

            engines["tesseract-default"] = TesseractReader().read_mrz
        except MrzError as exc:
            notes.append(f"tesseract baseline skipped: {exc}")
    # per engine: distortion → [ok, wrong, n], and all timings
    tallies: dict[str, dict[str, list[int]]] = {e: {} for e in engines}
    times: dict[str, list[float]] = {e: [] for e in engines}
    for k, sample in enumerate(samples):
        if k % 10 == 0:
            progress(f"{k}/{len(samples)} frames")
        expected = parse_mrz(sample.text).key_information()
        for name, read in engines.items():
            t = tallies[name].setdefault(sample.distortion, [0, 0, 0])
            t0 = time.perf_counter()
            try:
                got = read(sample.image).key_information()
            except MrzError:
                got = None
            times[name].append((time.perf_counter() - t0) * 1000)
            t[2] += 1
            if got == expected:
                t[0] += 1
            elif got is not None:
                t[1] += 1
    names = list(engines)
    rows = []
    for dist in DISTORTIONS:
        row: list[object] = [dist]
        for name in names:
            ok, wrong, n = tallies[name].get(dist, [0, 0, 0])
            row += [f"{ok}/{n}", wrong]
        rows.append(row)
    figures: dict[str, float] = {}
    for name in names:
        ok = sum(v[0] for v in tallies[name].values())
        wrong = sum(v[1] for v in tallies[name].values())
        n = sum(v[2] for v in tallies[name].values())
        prefix = "" if name == "station" else "tesseract_"
        figures |= {f"{prefix}success_rate": ok / n, f"{prefix}wrong_keys": float(wrong),
                    f"{prefix}p50_ms": statistics.median(times[name]),
                    f"{prefix}p95_ms": _pct(times[name], 0.95)}
    total: list[object] = ["all"]
    for name in names:
        ok = sum(v[0] for v in tallies[name].values())
        n = sum(v[2] for v in tallies[name].values())
        total += [f"{ok}/{n}", sum(v[1] for v in tallies[name].values())]
    rows.append(total)
    rows.append(["p50 / p95 ms", *[x for name in names for x in (
        f"{statistics.median(times[name]):.0f} / {_pct(times[name], 0.95):.0f}", "")]])
    if "tesseract_success_rate" in figures:
        figures["success_gain_pp"] = 100 * (figures["success_rate"]
                                            - figures["tesseract_success_rate"])
    columns = ["distortion"]
    for name in names:
        columns += [f"{name} ok", f"{name} wrong"]
    notes.append("wrong = a result whose BAC/PACE key differs from the printed MRZ")
    return BenchResult(
        name="mrz", columns=columns, rows=rows, figures=figures,
        goals=(Goal("wrong_keys", 0), Goal("success_rate", 0.9, higher_is_better=True),
               Goal("p95_ms", 500)),
        notes=notes,
    )
