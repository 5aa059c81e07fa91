"""The console's configuration: one frozen value, validated when built, handed to
:func:`station.console.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import x25519

from station.console.auth import SigninPolicy
from station.errors import ConfigError
from station.ingest.fleet import FleetPolicy
from station.ingest.outputs import LodgingLayout
from station.pipeline.mqtt import BrokerSettings

Language = Literal["vi", "en"]


@dataclass(frozen=True)
class FleetConfig:
    """The operator pages' side (:mod:`station.ingest.fleet`)."""

    broker: BrokerSettings | None = None
    """Run the fleet tracker in this process with these settings (an ``operator…`` backend
    identity of its own); None: another process tracks (``station fleet track``), the pages
    read the store and commands are refused."""
    client_id: str = "operator"
    """The certificate's CN (the broker makes it the client id)."""
    registry: Path | None = None
    """provisioning's registry.json: certificate expiry and revocation (the tracker reads it)."""
    ca_dir: Path | None = None
    """The operator CA directory: revoke from the console (the CA's key then lives on this
    host); None: revoke is refused with a pointer to `python -m provisioning revoke`."""
    policy: FleetPolicy = field(default_factory=FleetPolicy)


@dataclass(frozen=True)
class ConsoleConfig:
    store: Path | str
    """The ingest database: a SQLite path or a ``postgresql://`` DSN (migration 4 or later)."""
    session_secret: bytes
    """Keys the CSRF tokens (HMAC); at least 32 random bytes, the same for every worker."""
    backend_key: x25519.X25519PrivateKey | None = None
    """Opens the sealed citizen fields; without it the desk view and the API show metadata
    only."""
    secure_cookies: bool = True
    """``Secure`` on every cookie: the browser sends them over HTTPS only (and to
    http://localhost, which browsers treat as secure). Off only for a plain-HTTP test rig."""
    session_ttl_s: float = 8 * 3600.0
    reading_ttl_s: float = 120.0
    """How long a reading stays on the desk view (the clerk may close it sooner)."""
    poll_interval_s: float = 0.2
    """How often each console process polls the store for newly committed readings."""
    signin: SigninPolicy = field(default_factory=SigninPolicy)
    fill_origins: tuple[str, ...] = ()
    """Origins of the desk software that may receive the "fill" hand-off by
    ``window.postMessage`` (and may frame the desk view); none: clipboard only."""
    language: Language = "vi"
    api_page_max: int = 500
    fleet: FleetConfig = field(default_factory=FleetConfig)
    lodging_layout: LodgingLayout | None = None
    """The lodging forms' columns (:func:`station.ingest.layout.load_layout`); None: the
    default layout."""

    def __post_init__(self) -> None:
        if len(self.session_secret) < 32:
            raise ConfigError("console.session_secret", "at least 32 bytes")
        if self.reading_ttl_s <= 0 or self.session_ttl_s <= 0 or self.poll_interval_s <= 0:
            raise ConfigError("console", "times must be positive")
        for origin in self.fill_origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ConfigError("console.fill_origins",
                                  "an origin is scheme://host[:port], no path")
        if self.language not in ("vi", "en"):
            raise ConfigError("console.language", "vi or en")
