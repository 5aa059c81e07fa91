"""The doctor's checks; each returns one or more findings and never raises on purpose."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station import keys
from station.doctor.findings import Context, Finding
from station.drivers.reader.pcsc import connect_present, list_readers
from station.errors import KeyFormatError, KeyStoreError, StationError
from station.identity import classify_trust_file
from station.pipeline.mqtt import BrokerSettings, make_client
from station.reasons import TrustError
from station.trust.store import TrustStore

# SELECT the eMRTD application (ICAO 9303-10 §3.1: AID A0 00 00 02 47 10 01), no response data.
SELECT_EMRTD = bytes.fromhex("00A4040C07A0000002471001")
CERT_WARN_DAYS = 30
DISK_FAIL_BYTES = 64 * 1024 * 1024
DISK_WARN_BYTES = 512 * 1024 * 1024


def check_keys(ctx: Context) -> list[Finding]:
    paths = keys.KeyPaths.under(ctx.cfg.station.state_dir)
    signing = ctx.cfg.state_path(ctx.cfg.keys.signing_key)
    tls_key = Path(ctx.cfg.mqtt.key_file) if ctx.cfg.mqtt.key_file else paths.client_key
    backend = ctx.cfg.state_path(ctx.cfg.keys.backend_public_key)
    problems: list[str] = []
    fixes: list[str] = []
    for path, loader in ((signing, keys.load_signing_key), (tls_key, keys.load_tls_key)):
        try:
            loader(path, expect_uid=ctx.service_uid)
        except KeyStoreError as exc:
            problems.append(str(exc))
            if "mode" in exc.problem:
                fixes.append(f"chmod 600 {path}, then rotate it: "
                             "station provision init --rotate")
            elif "owned" in exc.problem:
                fixes.append(f"chown station:station {path}")
            else:
                fixes.append("station provision init")
    try:
        keys.load_backend_seal_key(backend)
    except KeyStoreError as exc:
        problems.append(str(exc))
        fixes.append("station provision install-backend-key BACKEND.pub.pem")
    if problems:
        return [Finding("keys", "fail", "; ".join(problems), "; ".join(dict.fromkeys(fixes)))]
    return [Finding("keys", "ok", "signing key, TLS key (0600, right owner) and backend key")]


def check_pcsc(ctx: Context) -> list[Finding]:
    from smartcard.pcsc.PCSCExceptions import BaseSCardException

    try:
        names = list_readers()
    except (StationError, BaseSCardException) as exc:
        # pyscard's EstablishContextException is not a SmartcardException: catch both.
        text = str(exc) if isinstance(exc, StationError) else \
            f"PC/SC service (pcscd) is not reachable: {type(exc).__name__}"
        return [Finding("pcscd", "fail", text,
                        "systemctl enable --now pcscd.socket; journalctl -u pcscd"),
                Finding("readers", "skip", "pcscd not reachable"),
                Finding("card", "skip", "pcscd not reachable")]
    found = [Finding("pcscd", "ok", "PC/SC service answers")]
    wanted = [n for n in names if ctx.cfg.reader.name in n]
    if not wanted:
        which = f"matching {ctx.cfg.reader.name!r} " if ctx.cfg.reader.name else ""
        return [*found, Finding("readers", "fail",
                                f"no reader {which}(pcscd sees {len(names)}: "
                                f"{', '.join(names) or 'none'})",
                                "plug the reader in; check reader.name; lsusb; if it is a "
                                "PN533 reader, the pn533 modules must be blacklisted"),
                Finding("card", "skip", "no reader")]
    found.append(Finding("readers", "ok", ", ".join(wanted)))
    return [*found, _card(wanted)]


def _card(readers: list[str]) -> Finding:
    card = connect_present(readers)
    if card is None:
        return Finding("card", "ok", "no card on the reader (put one on to test it)")
    reader = card.reader_name
    try:
        resp = card.transmit(SELECT_EMRTD)
    except StationError as exc:
        return Finding("card", "fail", f"a card on {reader} does not answer: {exc}",
                       "re-seat the card; if it persists, check the reader's antenna/firmware")
    finally:
        card.close()
    sw = int.from_bytes(resp[-2:], "big") if len(resp) >= 2 else 0
    if sw == 0x9000:
        return Finding("card", "ok", f"card on {reader} answers (eMRTD application)")
    return Finding("card", "warn", f"card on {reader} answers {sw:04X} to SELECT eMRTD",
                   "not an ICAO eMRTD (CCCD) card?")


def check_camera(ctx: Context) -> list[Finding]:
    cam = ctx.cfg.camera
    if cam.source == "none":
        return [Finding("camera", "skip", "disabled (camera.source = 'none')")]
    if cam.source == "replay":
        ok = Path(cam.path).exists()
        return [Finding("camera", "ok" if ok else "fail",
                        f"replay source {cam.path} " + ("exists" if ok else "does not exist"),
                        "" if ok else "fix camera.path")]
    if cam.source == "v4l2":
        path = Path(cam.path or "/dev/video0")
        try:
            st = path.stat()
        except OSError:
            return [Finding("camera", "fail", f"{path} does not exist",
                            "connect the camera; check camera.path; ls /dev/video*")]
        if not stat.S_ISCHR(st.st_mode):
            return [Finding("camera", "fail", f"{path} is not a video device", "fix camera.path")]
        if not os.access(path, os.R_OK | os.W_OK):
            return [Finding("camera", "fail", f"{path} is not readable by this user",
                            "add the service user to group video")]
        return [Finding("camera", "ok", f"{path} present")]
    return [_picamera2(ctx)]


def _picamera2(ctx: Context) -> Finding:
    try:
        from picamera2 import Picamera2
    except ImportError:
        return Finding("camera", "skip", "picamera2 is not installed here (not a Raspberry Pi "
                       "OS machine?)", "on a Pi: apt install python3-picamera2 and a venv made "
                       "with --system-site-packages")
    infos = Picamera2.global_camera_info()
    if not infos:
        return Finding("camera", "fail", "no camera detected by libcamera",
                       "check the ribbon cable and camera_auto_detect=1; rpicam-hello --list")
    result: list[Any] = []

    def grab() -> None:
        picam = Picamera2()
        try:
            picam.configure(picam.create_still_configuration())
            picam.start()
            result.append(picam.capture_array())
        finally:
            picam.close()

    worker = threading.Thread(target=grab, daemon=True)
    worker.start()
    worker.join(ctx.timeout_s)
    if not result:
        return Finding("camera", "fail", f"{len(infos)} camera(s) detected but no frame arrived",
                       "is another process (station.service?) using the camera?")
    return Finding("camera", "ok", f"{len(infos)} camera(s); frames arriving")


def check_clock(ctx: Context) -> list[Finding]:
    synced = _ntp_synchronized()
    if synced is False:
        return [Finding("clock", "warn", "the clock is not NTP-synchronised",
                        "timedatectl set-ntp true; the Pi has no RTC: it needs network time")]
    if ctx.now.year < 2024:
        return [Finding("clock", "fail", f"the clock says {ctx.now:%Y-%m-%d}",
                        "set the time (network time); certificates cannot be checked")]
    return [Finding("clock", "ok", "NTP-synchronised" if synced else
                    f"{ctx.now:%Y-%m-%d %H:%M} UTC (sync state unknown)")]


def _ntp_synchronized() -> bool | None:
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=3).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"yes": True, "no": False}.get(out)


def check_certificate(ctx: Context) -> list[Finding]:
    path = Path(ctx.cfg.mqtt.cert_file) if ctx.cfg.mqtt.cert_file else \
        keys.KeyPaths.under(ctx.cfg.station.state_dir).client_cert
    try:
        cert = keys.load_certificate(path)
    except KeyStoreError as exc:
        return [Finding("certificate", "fail", str(exc),
                        "station provision install-cert CERT --ca CA")]
    cn = keys.certificate_cn(cert)
    if cn != ctx.cfg.station.id:
        return [Finding("certificate", "fail", f"issued to {cn!r}, but station.id is "
                        f"{ctx.cfg.station.id!r}", "re-provision or fix station.id")]
    if ctx.now < cert.not_valid_before_utc:
        return [Finding("certificate", "fail", f"not valid before "
                        f"{cert.not_valid_before_utc:%Y-%m-%d}: the clock is behind",
                        "fix the clock (timedatectl)")]
    left = cert.not_valid_after_utc - ctx.now
    until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
    if left < dt.timedelta(0):
        return [Finding("certificate", "fail", f"expired on {until}",
                        "have the operator sign a new one: python -m provisioning sign")]
    if left < dt.timedelta(days=CERT_WARN_DAYS):
        return [Finding("certificate", "warn", f"expires on {until} ({left.days} days)",
                        "have the operator sign a new one soon")]
    return [Finding("certificate", "ok", f"{cn}, valid until {until}")]


def check_broker(ctx: Context) -> list[Finding]:
    m = ctx.cfg.mqtt
    where = f"{m.host}:{m.port}"
    settings: BrokerSettings = m
    try:
        client = make_client(f"{ctx.cfg.station.id}-doctor", settings)
    except (OSError, ValueError) as exc:  # ssl: unreadable CA/cert/key
        return [Finding("broker", "fail", f"TLS set-up failed: {type(exc).__name__}: "
                        f"{getattr(exc, 'strerror', None) or exc}",
                        "check mqtt.ca_file / cert_file / key_file")]
    done = threading.Event()
    outcome: list[str] = []

    def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        outcome.append("ok" if not rc.is_failure else f"refused: {rc}")
        done.set()

    def on_disconnect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not outcome:
            outcome.append(f"closed the connection ({rc})")
        done.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    start = time.monotonic()
    try:
        client.connect(m.host, m.port, keepalive=max(5, int(ctx.timeout_s) * 2))
    except OSError as exc:
        return [Finding("broker", "fail", f"cannot connect to {where}: "
                        f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}",
                        "check mqtt.host/port, the network and the broker; an ssl error "
                        "means a CA/certificate mismatch")]
    client.loop_start()
    try:
        done.wait(ctx.timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    ms = int((time.monotonic() - start) * 1000)
    if outcome == ["ok"]:
        tls = "mTLS" if m.tls else "plain (no TLS!)"
        return [Finding("broker", "ok" if m.tls else "warn", f"{where} accepted us over {tls} "
                        f"in {ms} ms", "" if m.tls else "set mqtt.tls = true")]
    return [Finding("broker", "fail", f"{where} " + (outcome[0] if outcome else
                    f"did not answer in {ctx.timeout_s:g} s"),
                    "is this station's certificate signed by the broker's CA and not "
                    "revoked/expired? mosquitto log")]


def check_trust(ctx: Context) -> list[Finding]:
    root = ctx.cfg.trust_dir()
    if root is None:
        return [Finding("trust", "fail", "no trust store configured (trust.path is empty): "
                        "cards cannot be verified", "set trust.path; station provision "
                        "install-trust")]
    counts = {"csca": 0, "masterlist": 0}
    bad: list[str] = []
    newest_ml: float | None = None
    files = sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else []
    for f in files:
        if f.name.startswith(".") or f.suffix in (".crl",):
            continue
        try:
            kind = classify_trust_file(f.read_bytes(), f.name)
        except (KeyFormatError, OSError):
            bad.append(f.name)
            continue
        counts[kind] += 1
        if kind == "masterlist":
            newest_ml = max(newest_ml or 0.0, f.stat().st_mtime)
    if not counts["csca"] and not counts["masterlist"]:
        return [Finding("trust", "fail", f"no CSCA certificate or master list in {root}: "
                        "passive authentication impossible",
                        "station provision install-trust CSCA.der|MASTERLIST.ml")]
    detail = f"{counts['csca']} CSCA certificate(s), {counts['masterlist']} master list(s)"
    if newest_ml is not None:
        detail += f", newest master list installed {dt.datetime.fromtimestamp(newest_ml):%Y-%m-%d}"
    if bad:
        return [Finding("trust", "warn", f"{detail}; unreadable: {', '.join(bad)}",
                        "remove or replace those files")]

    try:
        # What the verifier will make of them: e.g. a master list signed by a Document Signer
        # parses as one, but vouches for nothing (ICAO 9303-12 §4.4).
        problems = TrustStore.load(root).problems
    except TrustError:
        problems = ()
    if problems:
        unusable = "; ".join(f"{name}: {why}" for name, why in problems)
        return [Finding("trust", "warn", f"{detail}; unusable: {unusable}",
                        "station trust list shows why; remove or replace those files")]
    return [Finding("trust", "ok", detail)]


def check_revocation(ctx: Context) -> list[Finding]:
    """One warning for every CSCA of the store without a CRL and for every one whose CRLs are
    all past their nextUpdate (with the date): cards under it have an unknown DSC revocation
    status, which a profile with ``revocation = "require"`` (bank) refuses."""

    root = ctx.cfg.trust_dir()
    if root is None or not root.is_dir():
        return []  # check_trust reports it
    try:
        store = TrustStore.load(root)
    except TrustError:
        return []
    now = ctx.now
    findings: list[Finding] = []
    current = 0
    for csca in store.cscas:
        crls = store.crls_for(csca)
        if not crls:
            findings.append(Finding("crl", "warn", f"no CRL for CSCA {csca.subject} "
                                    f"[{csca.source}]: DSC revocation unknown",
                                    "station trust import that state's current CRL"))
            continue
        latest = max(crls, key=lambda c: c.next_update or c.this_update)
        if latest.next_update is None or latest.next_update < now:
            when = ("has no nextUpdate" if latest.next_update is None
                    else f"expired {latest.next_update:%Y-%m-%d}")
            findings.append(Finding("crl", "warn", f"CRL {latest.source} of CSCA "
                                    f"{csca.subject} {when}: DSC revocation unknown",
                                    "station trust import a current CRL of that CSCA"))
            continue
        current += 1
    if not findings and current:
        findings.append(Finding("crl", "ok", f"{current} CSCA(s), each with a current CRL"))
    return findings


def check_outbox(ctx: Context) -> list[Finding]:
    path = ctx.cfg.state_path(ctx.cfg.outbox.path)
    found = [_disk(ctx, path)]
    if not path.exists():
        return [Finding("outbox", "warn", f"no outbox at {path} yet",
                        "created by the service at its first read"), *found]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=ctx.timeout_s)
    except sqlite3.Error as exc:
        return [Finding("outbox", "fail", f"cannot open {path}: {exc}", "check permissions")]
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise sqlite3.DatabaseError(str(integrity)[:80])
        pending, oldest = conn.execute(
            "SELECT COUNT(*), MIN(created_at) FROM records WHERE state != 'acked'").fetchone()
    except sqlite3.DatabaseError as exc:
        return [Finding("outbox", "fail", f"{path.name} is corrupt or not an outbox: {exc}",
                        "stop the service, move the file aside (keep it for recovery), "
                        "restart; records in it are not lost until you delete it"), *found]
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    detail = f"integrity ok, {pending} awaiting the backend's receipt"
    if oldest is not None:
        age_h = max(0.0, (ctx.now.timestamp() - float(oldest)) / 3600)
        detail += f", oldest {age_h:.1f} h"
        if age_h > ctx.cfg.outbox.ttl_hours:
            return [Finding("outbox", "warn", detail + f" (over the {ctx.cfg.outbox.ttl_hours:g} h "
                            "TTL)", "check the broker connection (see 'broker')"), *found]
    if size > 0.9 * ctx.cfg.outbox.max_bytes:
        return [Finding("outbox", "warn", detail + f", {size >> 20} MiB of "
                        f"{ctx.cfg.outbox.max_bytes >> 20} MiB cap",
                        "the outbox will refuse new reads at its cap"), *found]
    return [Finding("outbox", "ok", detail + f", {size >> 10} KiB"), *found]


def _disk(ctx: Context, path: Path) -> Finding:
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    text = f"{free >> 20} MiB free on {probe}"
    if free < DISK_FAIL_BYTES:
        return Finding("disk", "fail", text, "free space: the outbox cannot commit")
    if free < DISK_WARN_BYTES:
        return Finding("disk", "warn", text, "free some space")
    return Finding("disk", "ok", text)


ALL: tuple[Callable[[Context], list[Finding]], ...] = (
    check_keys, check_pcsc, check_camera, check_clock, check_certificate, check_broker,
    check_trust, check_revocation, check_outbox,
)
