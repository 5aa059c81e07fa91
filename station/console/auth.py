"""Who is asking: passwords (argon2id), sign-in limits, session and CSRF secrets.

- Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB, 3
  passes) and re-hashed on sign-in when the parameters change. An unknown account costs the
  same hash as a known one, so timing does not tell which names exist.
- Sign-in is limited twice: per account, :attr:`SigninPolicy.max_failures` failures within
  :attr:`~SigninPolicy.window_s` lock it for :attr:`~SigninPolicy.lockout_s` (even the right
  password is refused then, with the same answer); per client address, at most
  :attr:`~SigninPolicy.per_remote` attempts a minute (HTTP 429).
- A session is 32 random bytes (the cookie); the database keeps its SHA-256. The CSRF token of
  a form is an HMAC of the session secret under the console's secret, so it needs no storage
  and is worthless without the HttpOnly cookie it belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from station.console.store import ConsoleStore, User

_HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def new_secret() -> str:
    """A session cookie or API token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def csrf_token(key: bytes, secret: str) -> str:
    return hmac.new(key, b"csrf:" + secret.encode("ascii"), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, secret: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(key, secret), token)


@dataclass(frozen=True)
class SigninPolicy:
    max_failures: int = 5
    window_s: float = 900.0
    lockout_s: float = 900.0
    per_remote: int = 30
    """Attempts per client address per minute, successful ones included."""


class Signin(Enum):
    OK = "ok"
    REFUSED = "refused"
    """Unknown name, wrong password, disabled or locked: one answer for all."""
    THROTTLED = "throttled"
    """Too many attempts from this address: try again in a minute."""


@dataclass(frozen=True)
class SigninResult:
    outcome: Signin
    user: User | None = None
    locked: bool = False
    """The account is locked (said in the audit log, not to the client)."""


def sign_in(store: ConsoleStore, policy: SigninPolicy, name: str, password: str,
            remote: str, now: float | None = None) -> SigninResult:
    now = time.time() if now is None else now
    name = name.strip()[:64]
    if store.attempts_from(remote, now - 60) >= policy.per_remote:
        return SigninResult(Signin.THROTTLED)
    user = store.user(name) if name else None
    failures = store.failures_since(name, now - max(policy.window_s, policy.lockout_s))
    recent = [t for t in failures if t >= now - policy.window_s]
    locked = (len(recent) >= policy.max_failures
              and now - recent[-1] < policy.lockout_s)
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    ok = ok and user is not None and not user.disabled and not locked
    store.add_attempt(name, remote, ok)
    if not ok or user is None:
        return SigninResult(Signin.REFUSED, locked=locked)
    if _HASHER.check_needs_rehash(user.password_hash):
        store.set_password(user.name, _HASHER.hash(password))
    return SigninResult(Signin.OK, user)


def _verify(encoded: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(encoded, password))
    except (VerificationError, InvalidHashError):
        return False
