"""A private pcscd with the vpcd virtual reader driver.

pcscd 1.9.9 always serves ``/run/pcscd/pcscd.comm``. To never collide with a system pcscd (or
another test run), it runs in its own mount namespace with a private directory bind-mounted over
``/run/pcscd``; clients (libpcsclite, so pyscard) reach it through ``PCSCLITE_CSOCK_NAME``.
libpcsclite reads that variable once per process, so one testbed serves a whole test session.
One vpcd entry per pcscd gives two slots: ``Virtual PCD 00 00`` on CHANNELID and ``… 00 01`` on
CHANNELID + 1. Needs root (for unshare); without it :meth:`PcscdTestbed.start` raises
:class:`TestbedUnavailable`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from station.testing.ports import free_port_pair

VPCD_DRIVER_PATHS = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
)


class TestbedUnavailable(RuntimeError):
    """pcscd or the vpcd driver is not installed, or we may not create a namespace."""


def vpcd_driver() -> str | None:
    for p in VPCD_DRIVER_PATHS:
        if os.path.exists(p):
            return p
    return None


class PcscdTestbed:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    __test__ = False  # not a pytest class

    def __init__(self, reader_name: str = "Virtual PCD") -> None:
        self.reader_name = reader_name
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "run" / "pcscd.comm"

    @property
    def readers(self) -> tuple[str, str]:
        return (f"{self.reader_name} 00 00", f"{self.reader_name} 00 01")

    @property
    def pid(self) -> int | None:
        """pid of pcscd itself (``unshare`` execs ``sh``, which execs pcscd: same process)."""
        return self.proc.pid if self.proc is not None else None

    def slot_port(self, slot: int = 0) -> int:
        return self.port + slot

    def start(self, timeout_s: float = 10.0) -> PcscdTestbed:
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd")
                                         else None)
        driver = vpcd_driver()
        if pcscd is None or driver is None:
            raise TestbedUnavailable("pcscd and the vpcd driver (vsmartcard-vpcd) are needed")
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise TestbedUnavailable("a private pcscd needs root and unshare(1)")
        self.port = free_port_pair()
        self.dir = Path(tempfile.mkdtemp(prefix="station-pcscd-"))
        (self.dir / "run").mkdir()
        (self.dir / "conf").mkdir()
        (self.dir / "conf" / "reader.conf").write_text(
            f'FRIENDLYNAME "{self.reader_name}"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {driver}\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )
        return self._launch(timeout_s)

    def _launch(self, timeout_s: float) -> PcscdTestbed:
        assert self.dir is not None
        pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "pcscd.log", "ab")  # noqa: SIM115 - lives as long as the process
        script = (f"mount --bind {self.dir}/run /run/pcscd && "
                  f"exec {pcscd} -f -c {self.dir}/conf")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not self.socket_path.exists() or not self._listening():
            if self.proc.poll() is not None:
                raise TestbedUnavailable(f"pcscd exited ({self.proc.returncode}): "
                                         + self.log_tail())
            if time.monotonic() > deadline:
                self.stop()
                raise TestbedUnavailable("pcscd did not come up in time")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """Kill pcscd abruptly (SIGKILL, as a crash would), keeping its directory and ports so
        that :meth:`restart` brings the same readers back on the same socket."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self.dir is not None:
            # A crashed pcscd leaves its socket behind; clients then see ECONNREFUSED.
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    def restart(self, timeout_s: float = 10.0) -> PcscdTestbed:
        """Kill pcscd (if running) and start it again with the same configuration."""
        self.kill()
        return self._launch(timeout_s)

    def _listening(self) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(0.2)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                return False
        # That connection looked like a card insert/remove to vpcd; harmless.
        return True

    def env(self) -> dict[str, str]:
        """Environment for a client process of this pcscd."""
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def activate(self) -> None:
        """Point this process's PC/SC clients at this pcscd (before their first use)."""
        os.environ.update(self.env())

    def log_tail(self, n: int = 2000) -> str:
        if self.dir is None:
            return ""
        try:
            return (self.dir / "pcscd.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PcscdTestbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
