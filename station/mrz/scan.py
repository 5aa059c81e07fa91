"""`station scan --mrz`: read machine-readable zones from image files or a camera.

Same output shape as the QR scan (one JSON object per input: ``path``, ``ok``, ``raw``, ``mrz``,
``error``, ``ms``). ``raw`` is the MRZ text as read *after* it passed every check digit (nothing
else is ever reported as an MRZ). Output carries citizen data: it is for the operator, not logs.
The command (:mod:`station.commands.scan`) parses the arguments, loops over image paths and
hands :func:`live` the configured camera.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from station.drivers.camera import Camera
from station.drivers.camera.replay import ReplayCamera, load_luma
from station.errors import MrzError, MrzNotFound, StationError
from station.mrz.ocr import read_mrz


def scan_frame(label: str, image: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"path": label, "ok": False, "raw": None, "mrz": None,
                              "error": None, "ms": None}
    t0 = time.perf_counter()
    try:
        m = read_mrz(image)
    except MrzError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    else:
        result |= {"ok": True, "raw": m.text,
                   "mrz": m.to_json() | {"key_information": m.key_information()}}
    result["ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return result


class KeyVote:
    """Live mode's vote across frames. Every reading :func:`read_mrz` returns passed every
    check digit; one that did so only after OCR repair is still reported only once a second
    frame within ``window`` seconds gives the same key. A reading that passed as read is
    reported at once."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._seen: dict[str, list[float]] = {}

    def offer(self, key: str, corrected: bool, now: float) -> bool:
        """Record one frame's key; True when the key is confirmed."""
        for k in list(self._seen):
            self._seen[k] = [t for t in self._seen[k] if now - t <= self.window]
            if not self._seen[k]:
                del self._seen[k]
        times = self._seen.setdefault(key, [])
        times.append(now)
        return not corrected or len(times) >= 2


def scan_image(path: str) -> dict[str, Any]:
    try:
        y = load_luma(path)
    except StationError as exc:
        return {"path": path, "ok": False, "raw": None, "mrz": None,
                "error": f"{type(exc).__name__}: {exc}", "ms": None}
    return scan_frame(path, y)


def print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    ms = "" if result["ms"] is None else f" ({result['ms']:.1f} ms)"
    if result["ok"]:
        m = result["mrz"]
        print(f"{result['path']}: {m['format']} {m['issuer']} document {m['document_number']}, "
              f"born {m['birth']}, expires {m['expiry']}{ms}", flush=True)
    else:
        print(f"{result['path']}: FAILED {result['error']}{ms}", flush=True)


def live(args: argparse.Namespace, configured: Callable[[], Camera]) -> int:
    """Read frames as they come; report each document once (the same key within the debounce
    time is the same document), and a repaired reading only when a second frame confirms its
    key (:class:`KeyVote`). Frames that arrive while one is being read are skipped by reading
    only the newest."""
    camera = ReplayCamera(args.replay, fps=args.fps or None) if args.replay else configured()
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    seen: dict[str, float] = {}
    vote = KeyVote()
    frames = events = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            frame = camera.read()
            if frame is None:
                break
            frames += 1
            try:
                result = scan_frame(frame.label or f"frame {frame.seq}", frame.y)
            finally:
                frame.release()
            if not result["ok"]:
                if args.json and not result["error"].startswith(MrzNotFound.__name__):
                    print_result(result, True)
                continue
            key = result["mrz"]["key_information"]
            now = time.monotonic()
            if not vote.offer(key, bool(result["mrz"]["corrected"]), now):
                continue
            if now - seen.get(key, -1e9) > args.debounce:
                events += 1
                print_result(result, args.json)
            seen[key] = now
    except KeyboardInterrupt:
        pass
    except StationError as exc:
        print(f"station scan: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        camera.close()
    print(f"scan --mrz: {frames} frames, {events} documents", file=sys.stderr, flush=True)
    return 0 if events else 1
