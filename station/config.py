"""Configuration: one TOML file → frozen dataclasses, validated once at start.

Every section and key is declared here; an unknown key, a wrong type or a value out of range is
a :class:`~station.errors.ConfigError` that names the dotted key. ``examples/station.toml`` is
the documented example (a test keeps it loadable).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from station.errors import ConfigError
from station.pipeline.mqtt import BrokerSettings

DEFAULT_PATH = Path("/etc/station/station.toml")

Profile = Literal["reception", "hospital", "lodging", "bank"]


@dataclass(frozen=True)
class StationSection:
    id: str = "station-dev"
    profile: Profile = "reception"
    state_dir: str = "/var/lib/station"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def validate(self, key: str) -> None:
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise ConfigError(f"{key}.id", "must be letters, digits, '-' or '_' (used in topics)")


@dataclass(frozen=True)
class ReaderSection:
    name: str = ""
    """Substring of the PC/SC reader name to use; empty = the first reader."""
    timeout_s: float = 30.0

    def validate(self, key: str) -> None:
        if self.timeout_s <= 0:
            raise ConfigError(f"{key}.timeout_s", "must be > 0")


@dataclass(frozen=True)
class CameraSection:
    source: Literal["picamera2", "v4l2", "replay", "none"] = "picamera2"
    path: str = ""
    """For ``replay``: a directory of images or a video file. For ``v4l2``: the device."""
    width: int = 1280
    height: int = 720
    fps: int = 30
    exposure_us: int = 4000
    """Fixed exposure against motion blur of a hand-held card; 0 = automatic."""
    autofocus: bool = True
    """Continuous autofocus where the camera has it."""

    def validate(self, key: str) -> None:
        if not 0 <= self.exposure_us <= 1_000_000:
            raise ConfigError(f"{key}.exposure_us", "must be between 0 and 1000000")
        if self.source == "replay" and not self.path:
            raise ConfigError(f"{key}.path", "required when source = 'replay'")
        if not (1 <= self.fps <= 120):
            raise ConfigError(f"{key}.fps", "must be between 1 and 120")


@dataclass(frozen=True)
class MqttSection(BrokerSettings):
    """``[mqtt]``: the broker connection itself (the station's defaults: TLS on 8883), usable
    wherever :class:`~station.pipeline.mqtt.BrokerSettings` is, and the publisher's knobs."""

    host: str = "localhost"
    port: int = 8883
    tls: bool = True
    window: int = 100
    """Records in flight at once (also capped by the broker's ReceiveMaximum)."""
    release: Literal["receipt", "puback"] = "receipt"
    """When a record's citizen data is deleted: on the backend's receipt on
    ``stations/{id}/receipts`` (the broker's PUBACK only means it queued the record), or on the
    broker's PUBACK (``puback``: for a backend that sends no receipts)."""
    receipt_timeout_s: float = 60.0
    """A record the broker took but the backend has not receipted within this is re-sent."""
    max_unreceipted: int = 500
    """At most this many records sent but not yet receipted (0 = no limit): keeps the broker's
    queue for the backend below its cap (Mosquitto ``max_queued_messages``, default 1000)."""

    def validate(self, key: str) -> None:
        if not (1 <= self.port <= 65535):
            raise ConfigError(f"{key}.port", "must be a TCP port (1-65535)")
        if not (1 <= self.window <= 65535):
            raise ConfigError(f"{key}.window", "must be between 1 and 65535")
        if not (1 <= self.receipt_timeout_s <= 86400):
            raise ConfigError(f"{key}.receipt_timeout_s", "must be between 1 and 86400 seconds")
        if self.max_unreceipted < 0:
            raise ConfigError(f"{key}.max_unreceipted", "must be >= 0 (0 = no limit)")
        if self.keepalive_s < 5:
            raise ConfigError(f"{key}.keepalive_s", "must be at least 5 seconds")


@dataclass(frozen=True)
class OutboxSection:
    path: str = "outbox.sqlite3"
    """Relative paths are inside ``station.state_dir``."""
    ttl_hours: float = 72.0
    max_bytes: int = 512 * 1024 * 1024

    def validate(self, key: str) -> None:
        if self.ttl_hours <= 0:
            raise ConfigError(f"{key}.ttl_hours", "must be > 0")
        if self.max_bytes < 1024 * 1024:
            raise ConfigError(f"{key}.max_bytes", "must be at least 1 MiB")


@dataclass(frozen=True)
class KeysSection:
    signing_key: str = "keys/signing.pem"
    backend_public_key: str = "keys/backend-seal.pub.pem"


@dataclass(frozen=True)
class TrustSection:
    path: str = "trust"
    """Directory of CSCA certificates, master lists and CRLs (relative: inside
    ``station.state_dir``); empty = no passive authentication."""


@dataclass(frozen=True)
class ProfileSection:
    """Adjustments to the profile selected by ``station.profile`` (see station.service.profiles)."""

    fields: tuple[str, ...] = ()
    """Citizen fields to read, keep and send; empty = the profile's default list."""
    require: Literal["", "unverified", "authentic", "genuine"] = ""
    """Minimum verification outcome; empty = the profile's own (bank: genuine, not lowerable)."""
    key_cache_s: float = 0.0
    """Remember a QR's keys this long for a card tapped later without the QR; 0 = never."""
    keypad: bool = True
    """Accept a CAN typed on a keypad or sent on the commands topic."""
    service_code: str = ""
    """reception: the desk's service/queue code carried in each record."""
    establishment_id: str = ""
    """lodging: the establishment's registration id (required for that profile)."""
    foreign_fields: tuple[str, ...] = ()
    """lodging: a foreign guest's fields to keep and send; empty = the profile's default."""
    mrz_only: bool = True
    """lodging: record a foreign guest from the MRZ alone when the chip cannot be read."""
    mrz_fallback: bool = True
    """Every desk's camera also reads a CCCD's MRZ (TD1, issuer VNM) when no QR is in view:
    the BAC/PACE-MRZ key when the QR is damaged or missing. Lodging reads MRZs regardless."""
    revocation: Literal["", "require", "prefer"] = ""
    """DSC revocation: "require" refuses a card whose DSC's CSCA has no current CRL in the
    store (status unknown); "prefer" records the unknown status and goes on. Empty = the
    profile's own (bank: require, not lowerable; others: prefer)."""
    record_refusals: bool = False
    """Also send a record of a card refused as not genuine: its outcome and checks, no citizen
    data, so the backend (and the clerk's desk view) learns of the refusal."""

    def validate(self, key: str) -> None:
        if self.key_cache_s < 0 or self.key_cache_s > 3600:
            raise ConfigError(f"{key}.key_cache_s", "must be between 0 and 3600 seconds")


@dataclass(frozen=True)
class SessionSection:
    """Timings of a reading session (station.service.machine)."""

    card_wait_s: float = 30.0
    read_timeout_s: float = 20.0
    verify_timeout_s: float = 10.0
    store_timeout_s: float = 10.0
    result_hold_s: float = 3.0

    def validate(self, key: str) -> None:
        for f in dataclasses.fields(self):
            if not (0 < getattr(self, f.name) <= 600):
                raise ConfigError(f"{key}.{f.name}", "must be > 0 and at most 600 seconds")


@dataclass(frozen=True)
class FeedbackSection:
    """LEDs and buzzer (gpiozero; BCM pin numbers). A pin of -1 means not fitted."""

    enabled: bool = True
    green_pin: int = 17
    red_pin: int = 27
    amber_pin: int = 22
    buzzer_pin: int = 18
    active_high: bool = True

    def validate(self, key: str) -> None:
        pins: dict[int, str] = {}
        for name in ("green_pin", "red_pin", "amber_pin", "buzzer_pin"):
            pin = getattr(self, name)
            if not (pin == -1 or 0 <= pin <= 27):
                raise ConfigError(f"{key}.{name}", "must be a BCM GPIO number 0-27, or -1")
            if pin != -1 and pin in pins:
                raise ConfigError(f"{key}.{name}", f"pin {pin} already used by {pins[pin]}")
            pins[pin] = name


@dataclass(frozen=True)
class DisplaySection:
    """The public-facing screen (station.display)."""

    kind: Literal["none", "ssd1306", "sh1106", "framebuffer", "png"] = "none"
    width: int = 128
    height: int = 64
    i2c_port: int = 1
    i2c_address: int = 0x3C
    device: str = "/dev/fb0"
    """framebuffer: the device; png: the file each frame is written to."""
    show_initial: bool = False
    """Show the first letter of the given name on success (never more of the citizen's data)."""
    font: str = ""
    """A TrueType font covering Vietnamese; empty = DejaVu Sans from the system."""

    def validate(self, key: str) -> None:
        if not (32 <= self.width <= 4096 and 32 <= self.height <= 4096):
            raise ConfigError(f"{key}.width", "width and height must be 32-4096 pixels")
        if not (0x03 <= self.i2c_address <= 0x77):
            raise ConfigError(f"{key}.i2c_address", "must be a 7-bit I2C address")


@dataclass(frozen=True)
class Config:
    station: StationSection = field(default_factory=StationSection)
    reader: ReaderSection = field(default_factory=ReaderSection)
    camera: CameraSection = field(default_factory=CameraSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    keys: KeysSection = field(default_factory=KeysSection)
    trust: TrustSection = field(default_factory=TrustSection)
    profile: ProfileSection = field(default_factory=ProfileSection)
    session: SessionSection = field(default_factory=SessionSection)
    feedback: FeedbackSection = field(default_factory=FeedbackSection)
    display: DisplaySection = field(default_factory=DisplaySection)

    def state_path(self, path: str) -> Path:
        """Resolve a configured path: relative ones live in ``station.state_dir``."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.station.state_dir) / p

    def trust_dir(self) -> Path | None:
        """The trust store directory, or None when ``trust.path`` is empty (no store)."""
        return self.state_path(self.trust.path) if self.trust.path else None


def load(path: Path | str | None = None) -> Config:
    """Read and validate a configuration file (``DEFAULT_PATH`` when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", f"configuration file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read configuration file {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{p} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{p} is not valid TOML: {exc}") from None
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from parsed TOML (what :func:`load` does after parsing)."""
    cfg: Config = _build(Config, data, "")
    return cfg


def _build(cls: type[Any], data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(key, "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}." if key else ""
        raise ConfigError(f"{where}{unknown[0]}", "unknown key")
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _convert(hints[name], value, f"{key}.{name}" if key else name)
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(key)
    return obj


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type[Any], tp), value, key)
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(key, f"must be one of {choices}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(key, "must be an array")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_convert(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, "must be a table")
        _, val_tp = typing.get_args(tp)
        return types.MappingProxyType(
            {k: _convert(val_tp, v, f"{key}.{k}") for k, v in value.items()}
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, "must be a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "must be an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, "must be true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, "must be a string")
        return value
    raise ConfigError(key, f"unsupported type {tp!r}")  # pragma: no cover - schema bug
