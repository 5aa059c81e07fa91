"""`station scan`: decode CCCD QR codes from image files or the camera."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from station.commands import Subparsers, load_config


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "scan", help="decode CCCD QR codes from images or the camera",
        description="Decode the QR code of CCCD cards and validate the payload. With image "
                    "paths: one result per image (--json: one JSON object per line with path, "
                    "ok, raw, cccd, error, ms); exit 0 only if every image held a valid CCCD "
                    "payload. With --camera (the [camera] section of the configuration) or "
                    "--replay: live decoding, one line per card shown (a card held in view is "
                    "one event). Output contains citizen data: it is for the operator, not logs.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files to decode")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--mrz", action="store_true",
                   help="read the machine-readable zone (TD1/TD2/TD3) instead of the QR code: "
                        "JSON with path, ok, raw, mrz, error, ms; only MRZs that pass every "
                        "check digit are reported")
    p.add_argument("--engine", choices=("zxing", "zbar"), default="zxing",
                   help="decoding engine (default zxing: zxing-cpp's defaults on the whole "
                        "frame, then the guide box's densest patch upscaled and retried; zbar: "
                        "pyzbar in binary mode)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", action="store_true", help="decode live from the camera")
    src.add_argument("--replay", metavar="DIR_OR_VIDEO",
                     help="decode live from recorded frames (a directory of images or a video)")
    p.add_argument("--fps", type=float, default=30.0,
                   help="--replay pace in frames per second (0 = as fast as possible)")
    p.add_argument("--seconds", type=float, default=0.0,
                   help="live: stop after this long (default: until the source ends or Ctrl-C)")
    p.add_argument("--debounce", type=float, default=3.0, metavar="S",
                   help="live: the same payload within S seconds is the same event")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    one: Callable[[str], dict[str, Any]]
    show: Callable[[dict[str, Any], bool], None]
    live: Callable[[], int]
    if args.mrz:
        from station.drivers.camera import open_camera
        from station.mrz import ocr, scan

        ocr.prepare()
        one, show = scan.scan_image, scan.print_result
        live = lambda: scan.live(args, lambda: open_camera(load_config(args).camera))  # noqa: E731
    else:
        from station.qr.decode import QrDecoder

        decoder = QrDecoder(args.engine)
        one, show = (lambda path: scan_image(path, decoder)), _print
        live = lambda: _live(args, decoder)  # noqa: E731
    if args.camera or args.replay:
        if args.paths:
            print("station scan: give image paths or --camera/--replay, not both",
                  file=sys.stderr)
            return 2
        return live()
    if not args.paths:
        print("station scan: give image paths, --camera or --replay", file=sys.stderr)
        return 2
    failures = 0
    for path in args.paths:
        result = one(path)
        failures += not result["ok"]
        show(result, args.json)
    return 1 if failures else 0


def scan_image(path: str, decoder: Any) -> dict[str, Any]:
    """Decode one image file into the result object `station scan --json` prints."""
    from station.drivers.camera.replay import load_luma
    from station.errors import StationError
    from station.qr.scanner import qr_event

    t0 = time.perf_counter()
    result: dict[str, Any] = {"path": path, "ok": False, "raw": None, "cccd": None,
                              "error": None, "ms": None}
    try:
        y = load_luma(path)
    except StationError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        return result
    t0 = time.perf_counter()
    found = decoder.decode_all(y)
    result["ms"] = round((time.perf_counter() - t0) * 1000, 2)
    if not found:
        result["error"] = "no QR code found"
        return result
    # Several symbols in one image: the card's payload if one is, else the first.
    events = [qr_event(d.data) for d in found]
    return result | _event_fields(next((e for e in events if e.payload is not None), events[0]))


def _event_fields(event: Any) -> dict[str, Any]:
    err = event.error
    return {"ok": event.payload is not None, "raw": event.raw,
            "cccd": None if event.payload is None else event.payload.to_json(),
            "error": None if err is None else f"{type(err).__name__}: {err}"}


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    ms = "" if result["ms"] is None else f" ({result['ms']:.1f} ms)"
    if result["ok"]:
        c = result["cccd"]
        print(f"{result['path']}: CCCD {c['id_number']} {c['name']}, born {c['birth']}, "
              f"chip keys CAN {c['id_number'][-6:]}{ms}", flush=True)
    else:
        print(f"{result['path']}: FAILED {result['error']}{ms}", flush=True)


def _live(args: argparse.Namespace, decoder: Any) -> int:
    from station.drivers.camera import Camera, open_camera
    from station.drivers.camera.replay import ReplayCamera
    from station.qr.scanner import QrEvent, Scanner

    camera: Camera
    if args.replay:
        camera = ReplayCamera(args.replay, fps=args.fps or None)
    else:
        camera = open_camera(load_config(args).camera)
    count = 0

    def on_event(event: QrEvent) -> None:
        nonlocal count
        count += 1
        result = {"path": f"frame {event.frame}", "ms": round(event.ms, 2)} | \
            _event_fields(event)
        _print(result, args.json)

    scanner = Scanner(camera, decoder, on_event, debounce_s=args.debounce).start()
    try:
        deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
        while not scanner.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        scanner.stop()
        camera.close()
    s = scanner.stats
    print(f"scan: {s.frames} frames, {s.decoded_frames} decoded, {s.dropped} dropped, "
          f"{count} events", file=sys.stderr, flush=True)
    if scanner.error is not None:
        print(f"station scan: {type(scanner.error).__name__}: {scanner.error}", file=sys.stderr)
        return 1
    return 0 if count else 1
