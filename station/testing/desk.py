"""A replay camera for a desk people walk up to: each QR image shown for a while, an empty desk
(blank frames) in between — so a running QR watch sees one person after another, as the demo and
the integration test need. Frames come at ``fps`` like a real camera's."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import numpy as np

from station import keys
from station.drivers.camera import Frame
from station.drivers.camera.replay import ReplayCamera
from station.sim.issuer import test_pki


class DeskCamera:
    def __init__(self, fps: float = 15.0, size: tuple[int, int] = (480, 640)) -> None:
        self.fps = fps
        self._blank = np.full(size, 200, dtype=np.uint8)
        self._queue: queue.Queue[ReplayCamera] = queue.Queue()
        self._current: ReplayCamera | None = None
        self._seq = 0
        self._next = time.monotonic()
        self._closed = False
        self.opened = 0

    def show(self, image: Path, frames: int = 15) -> None:
        """Hold ``image`` (a QR photographed) in front of the camera for ``frames`` frames."""
        self._queue.put(ReplayCamera([image] * frames, fps=None))

    def open(self) -> DeskCamera:
        """The QR watch's camera factory: the same desk each time it (re)opens."""
        self._closed = False
        self.opened += 1
        return self

    def read(self) -> Frame | None:
        if self._closed:
            return None
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + 1 / self.fps, time.monotonic())
        y = None
        while y is None:
            if self._current is None:
                try:
                    self._current = self._queue.get_nowait()
                except queue.Empty:
                    y = self._blank
                    break
            f = self._current.read()
            if f is None:
                self._current = None
            else:
                y = f.y
        self._seq += 1
        return Frame(y, self._seq, time.monotonic(), "desk")

    def close(self) -> None:
        self._closed = True


def prepare_state(state_dir: Path) -> tuple[object, object]:
    """A station's state directory for a test or the demo: a signing key, the backend's seal
    key (its private half returned for the ingest backend) and a trust store holding the
    synthetic issuer's CSCA and CRL (``station.sim.issuer.test_pki``). Returns
    (signing public key, backend private key)."""

    signing = keys.generate_signing_key()
    backend = keys.generate_seal_key()
    keys.ensure_key_dir(state_dir / "keys")
    keys.save_private_key(signing, state_dir / "keys" / "signing.pem")
    keys.save_public(keys.public_pem(backend.public_key()),
                     state_dir / "keys" / "backend-seal.pub.pem")
    trust = state_dir / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    pki = test_pki()
    (trust / "csca.pem").write_bytes(pki.csca.pem)
    (trust / "csca.crl").write_bytes(pki.crl)
    return signing.public_key(), backend
