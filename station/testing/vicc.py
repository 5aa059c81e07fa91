"""vsmartcard's ``vicc`` ePass (Debian ``vsmartcard-vpicc`` / ``python3-virtualsmartcard``) as an
independent card on a :class:`~station.testing.pcscd.PcscdTestbed` slot.

Nobody in this project wrote that card: it is the interoperability peer for BAC, secure
messaging and the LDS files. It runs under the *system* Python (``/usr/bin/python3``) with the
Debian package, as a subprocess, and connects to vpcd as a TCP client like our own card.

The 3.3 package does not run its secure messaging under Python 3 as shipped
(the project's test-bed notes list four places; measured here, it takes sixteen, listed with
their reasons in ``_FIXES``). :func:`patched_package` copies it into a temporary directory and
applies them there (the system package is never edited); each fix is checked to apply, so a
changed package fails loudly instead of silently testing something else. The four known ones:

- ``SEutils.py``: ``bertlv_pack([[tag, length, value]])`` packs nothing (the packer wants
  tuples), so DO'87'/'97' went unMACed → ``bertlv_pack([(tag, length, value)])``;
- ``SEutils.py``: ``return_data = ["", ]`` mixes str into bytes → ``[b"", ]``;
- ``SEutils.py``: ``stringtoint(value[0])`` gets an int under Python 3 → ``value[0:1]``;
- ``CryptoUtils.py``: ``inttostring(ssc) + data`` drops the SSC's leading zero bytes (about one
  session in 256 fails) → ``inttostring(ssc, 8) + data``.

The launcher also gives Python 3 the ``raw_input`` the card generator calls, maps PyCrypto's
``Crypto`` name onto Debian's ``Cryptodome`` (python3-pycryptodome) when needed, and sets
``TCP_NODELAY`` on connect and ``TCP_QUICKACK`` after every ``recv`` (pcscd writes length and APDU
in two segments: without them every APDU costs ~48 ms of Nagle + delayed ACK).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from station.testing.pcscd import TestbedUnavailable

SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGE_DIR = Path("/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard")

# The ICAO Doc 9303-4 specimen (ERIKSSON ANNA MARIA, Utopia), TD3, as vicc's prompt wants it:
# both lines as one 88-character string.
ICAO_SPECIMEN_MRZ = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
                     "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
ICAO_SPECIMEN_KEY = "L898902C3,740812,120415"

_FIXES: tuple[tuple[str, str, str], ...] = (
    ("SEutils.py", "bertlv_pack([[tag, length, value]])", "bertlv_pack([(tag, length, value)])"),
    ("SEutils.py", 'return_data = ["", ]', 'return_data = [b"", ]'),
    ("SEutils.py", "stringtoint(value[0])", "stringtoint(value[0:1])"),
    ("CryptoUtils.py", "inttostring(ssc) + data", "inttostring(ssc, 8) + data"),
    # Found here, not in the facts file: TLVutils.pack ends in b"".join(<bytes>), which under
    # Python 3 iterates ints and raises, so the ePass generator cannot even build EF.COM.
    ("TLVutils.py", 'return b"".join(result)', "return result"),
    # ... and the MRZ typed at its prompt stays str, which pack() cannot encode into DG1.
    ("CardGenerator.py", 'raw_input("Please enter the MRZ as one string: ")',
     'raw_input("Please enter the MRZ as one string: ").encode("ascii")'),
    # ... and BAC's key-seed XOR (operation_on_string) indexes bytes as if they were str.
    ("CryptoUtils.py", 'result.append(chr(op(ord(string1[i]), ord(string2[i]))))\n'
     '    return "".join(result)',
     "result.append(op(string1[i], string2[i]))\n    return bytes(result)"),
    # ... and the unprotected command is joined as str, the protected answer built on str: an
    # empty answer (b"" != "" under Python 3) would even get an encrypted empty DO'87'.
    ("SEutils.py", 'data="".join(return_data))', 'data=b"".join(return_data))'),
    ("SEutils.py", 'return_data = ""\n        # if sw == SW["NORMAL"]:',
     'return_data = b""\n        # if sw == SW["NORMAL"]:'),
    ("SEutils.py", 'if result != "":  # Encrypt', 'if result:  # Encrypt'),
    ("SEutils.py", 'encrypted = "\\x01" + encrypted', 'encrypted = b"\\x01" + encrypted'),
    # ... and the eMRTD application's DF name is str, so SELECT by AID cannot compare it.
    ("CardGenerator.py", "dfname='\\xa0\\x00\\x00\\x02G\\x10\\x01'",
     "dfname=b'\\xa0\\x00\\x00\\x02G\\x10\\x01'"),
    # ... and its DG2 builder (a photo given) joins str literals to the bytes of inttostring
    # and of the picture: the face record header, the facial and the image information blocks.
    ("CardGenerator.py", 'IIB = "\\x00\\x01" + inttostring', 'IIB = b"\\x00\\x01" + inttostring'),
    ("CardGenerator.py", 'inttostring(pic_height, 2) + 6 * "\\x00"',
     'inttostring(pic_height, 2) + 6 * b"\\x00"'),
    ("CardGenerator.py", 'FIB = inttostring(length, 4) + 16 * "\\x00"',
     'FIB = inttostring(length, 4) + 16 * b"\\x00"'),
    ("CardGenerator.py", 'FRH = "FAC" + "\\x00" + "010" + "\\x00" +',
     'FRH = b"FAC" + b"\\x00" + b"010" + b"\\x00" +'),
)

_LAUNCHER = r'''
import builtins, socket, sys
builtins.raw_input = input
try:
    import Crypto.Cipher  # noqa: F401
except ImportError:
    import Cryptodome, Cryptodome.Cipher, Cryptodome.Hash
    sys.modules["Crypto"] = Cryptodome
    sys.modules["Crypto.Cipher"] = Cryptodome.Cipher
    sys.modules["Crypto.Hash"] = Cryptodome.Hash
from virtualsmartcard import VirtualSmartcard as vs


class QuickAck:
    def __init__(self, sock):
        self._sock = sock

    def recv(self, n):
        data = self._sock.recv(n)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


def connect(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((host, port))
    return QuickAck(sock)


vs.VirtualICC.connectToPort = staticmethod(connect)
sys.argv = ["vicc"] + sys.argv[1:]
exec(compile(open("/usr/bin/vicc").read(), "/usr/bin/vicc", "exec"))
'''


def available() -> str | None:
    """Why the vicc peer cannot run here, or None when it can."""
    if not os.path.exists(SYSTEM_PYTHON) or not shutil.which("vicc"):
        return "vicc needs the Debian packages vsmartcard-vpicc and python3-virtualsmartcard"
    if not PACKAGE_DIR.is_dir():
        return f"virtualsmartcard package not found at {PACKAGE_DIR}"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import PIL\ntry:\n import Crypto\nexcept ImportError:\n"
         " import Cryptodome"], capture_output=True)
    if probe.returncode:
        return "vicc needs python3-pil and python3-pycryptodome"
    return None


def patched_package(dest: Path) -> Path:
    """Copy the system ``virtualsmartcard`` package under ``dest`` with the Python-3 fixes;
    returns the directory to put on ``PYTHONPATH``."""
    target = dest / "virtualsmartcard"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, old, new in _FIXES:
        path = target / name
        text = path.read_text()
        if old not in text:
            raise TestbedUnavailable(f"vicc fix does not apply to {name}: {old!r} not found")
        path.write_text(text.replace(old, new))
    (dest / "vicc_launcher.py").write_text(_LAUNCHER)
    return dest


class ViccEpass:
    """One vicc ePass (EF.COM, DG1 with ``mrz``, DG2 with ``photo`` or empty, an empty EF.SOD;
    BAC, 3DES secure messaging) connected to ``port`` (a vpcd slot). Use as a context manager:
    the card is inserted on entry and removed (process ended) on exit.

    ``photo`` is an image file vicc wraps in its own ISO/IEC 19794-5 face record; it always
    declares the image data type JPEG 2000 (1), so give it a JPEG 2000 file."""

    def __init__(self, port: int, mrz: str = ICAO_SPECIMEN_MRZ, host: str = "127.0.0.1",
                 verbose: bool = False, photo: Path | None = None) -> None:
        self.port = port
        self.photo = photo
        self.verbose = verbose
        self.mrz = mrz
        self.host = host
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ViccEpass:
        reason = available()
        if reason is not None:
            raise TestbedUnavailable(reason)
        self.dir = Path(tempfile.mkdtemp(prefix="station-vicc-"))
        root = patched_package(self.dir)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
        log = open(self.dir / "vicc.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(root / "vicc_launcher.py"), "-t", "ePass", "-H", self.host,
             "-P", str(self.port), *(["-vvvv"] if self.verbose else [])],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        assert self.proc.stdin is not None
        # Without a photo the card is issued with an empty DG2. The generator catches only
        # IOError, hence a path that is missing (an empty one makes Pillow raise AttributeError).
        photo = self.photo if self.photo is not None else self.dir / "no-photo.jpg"
        self.proc.stdin.write(f"{self.mrz}\n{photo}\n".encode())
        self.proc.stdin.close()
        time.sleep(0.05)
        if self.proc.poll() is not None:
            raise TestbedUnavailable(f"vicc exited ({self.proc.returncode}): {self.log_tail()}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, n: int = 2000) -> str:
        if self.dir is None:
            return ""
        with contextlib.suppress(FileNotFoundError):
            return (self.dir / "vicc.log").read_text(errors="replace")[-n:]
        return ""

    def __enter__(self) -> ViccEpass:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ICAO_SPECIMEN_KEY", "ICAO_SPECIMEN_MRZ", "ViccEpass", "available", "patched_package"]
