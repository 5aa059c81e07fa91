"""Delivering opened records to the consuming system by webhook: at least once, signed.

Each new record gets a row in the ``webhook`` table *in the same transaction as the record*
(:meth:`~station.ingest.store.SqliteStore.enqueue_webhook`), so a crash can delay a delivery but
never lose it. :class:`WebhookDeliverer` POSTs what is due and marks it delivered on a 2xx;
anything else (an error status, a refused connection, a timeout) is retried with exponential
backoff and full jitter, capped at :attr:`WebhookDeliverer.backoff_max_s`, without end: the
consumer being down for a day delays, it does not drop. Several workers may deliver the same
record (at least once): the consumer dedupes by the ``Idempotency-Key`` header,
``<record id>:<form>``.

The body is the record in its profile's form (:func:`station.ingest.outputs.render`; by default
:data:`~station.ingest.outputs.DEFAULT_FORMS`: one-stop JSON, the hospital's FHIR ``Patient``,
the lodging notification as XLSX, bank JSON; ``forms`` changes it per profile, ``layout`` the
lodging forms' columns) with that form's
``Content-Type``, the form in ``Station-Form`` and the record id in ``Station-Record``. A record
the configured form has no row for (a foreign guest under ``lodging-csv``) is not posted: its
row is closed with the error ``form`` (``unopenable`` when the stored record no longer opens
with this backend key). The ``Station-Signature`` header is
``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the consumer recomputes it with
the shared secret and refuses a stale ``t``. The body holds citizen data: the URL must be
``https`` outside loopback tests (:func:`check_url`), and neither the body nor the URL's query is
ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import x25519

from station.errors import ConfigError, OutputError
from station.ingest.outputs import (
    DEFAULT_FORMS,
    PROFILES,
    Form,
    LodgingLayout,
    OpenedRecord,
    Output,
    form_of,
    render,
)
from station.log import event
from station.pipeline.records import RecordError

log = logging.getLogger(__name__)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError("--webhook-url", "must be https (http only to loopback)")
    return url


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def forms_of(pairs: list[str]) -> dict[str, Form]:
    """``PROFILE=FORM`` pairs (``--webhook-form``) over the defaults."""
    forms = dict(DEFAULT_FORMS)
    for pair in pairs:
        profile, sep, name = pair.partition("=")
        if not sep or profile not in DEFAULT_FORMS:
            raise ConfigError("--webhook-form", "must be PROFILE=FORM with a profile of "
                              + ", ".join(DEFAULT_FORMS))
        try:
            forms[profile] = form_of(name)
        except OutputError as exc:
            raise ConfigError("--webhook-form", str(exc)) from None
    return forms


def output_of(token: bytes, backend_key: x25519.X25519PrivateKey,
              forms: Mapping[str, Form] = DEFAULT_FORMS,
              layout: LodgingLayout | None = None) -> Output:
    """A stored record in its profile's form (:data:`~station.ingest.outputs.RECORD_JSON` for
    a profile ``forms`` does not name), the lodging forms in ``layout``'s columns."""
    opened = OpenedRecord.from_token(token, backend_key)
    return render(opened, forms.get(opened.record.profile, Form.RECORD_JSON), layout=layout)


class WebhookDeliverer:
    """Runs beside an :class:`~station.ingest.worker.Ingest`; ``locked`` gives it the worker's
    store under the worker's lock (the store is not thread-safe)."""

    def __init__(self, url: str, secret: bytes, backend_key: x25519.X25519PrivateKey,
                 locked: Callable[[], Any], *, forms: Mapping[str, Form] = DEFAULT_FORMS,
                 layout: LodgingLayout | None = None,
                 backoff_base_s: float = 1.0,
                 backoff_max_s: float = 300.0, timeout_s: float = 10.0,
                 interval_s: float = 0.2, batch: int = 50) -> None:
        self.url = check_url(url)
        self.secret = secret
        self.backend_key = backend_key
        self.locked = locked
        self.forms = dict(forms)
        self.layout = layout
        for profile, form in self.forms.items():
            if profile not in PROFILES[form]:
                raise ConfigError("--webhook-form", f"form {form} does not take {profile} "
                                  "records")
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.batch = batch
        self.delivered = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backoff(self, attempts: int) -> float:
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** min(attempts, 20))
        return random.uniform(cap / 2, cap)

    def _post(self, record_id: str, out: Output) -> str | None:
        """None on a 2xx, else what went wrong (a status or an error class, never content)."""
        req = urllib.request.Request(self.url, data=out.body, method="POST", headers={
            "Content-Type": out.media_type, "Idempotency-Key": f"{record_id}:{out.form}",
            "Station-Form": str(out.form), "Station-Record": record_id,
            "Content-Disposition": f'attachment; filename="{out.filename}"',
            "Station-Signature": signature(self.secret, int(time.time()), out.body)})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return None if 200 <= resp.status < 300 else f"http {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"http {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return type(exc).__name__

    def _deliver(self, record_id: str, token: bytes | None) -> str | None:
        if token is None:  # retention deleted it before the consumer took it
            return "purged"
        try:
            out = output_of(token, self.backend_key, self.forms, self.layout)
        except RecordError:
            return "unopenable"  # verified and opened at ingest: another backend key now?
        except OutputError:
            return "form"
        if record_id not in out.record_ids:
            return "form"  # the configured form has no row for this record
        return self._post(record_id, out)

    def run_once(self, now: float | None = None) -> int:
        """Deliver what is due; returns how many were delivered."""
        now = time.time() if now is None else now
        with self.locked() as store:
            due = store.due_webhooks(now, self.batch)
        done = 0
        for record_id, attempts, token in due:
            error = self._deliver(record_id, token)
            with self.locked() as store:
                if error is None:
                    store.webhook_done(record_id, time.time())
                elif error in ("purged", "form", "unopenable"):  # closed, not retried
                    store.webhook_retry(record_id, float("inf"), error)
                else:
                    store.webhook_retry(record_id, time.time() + self.backoff(attempts), error)
            if error is None:
                done += 1
                self.delivered += 1
                event(log, "webhook.delivered", record=record_id, attempts=attempts + 1)
            else:
                self.failures += 1
                event(log, "webhook.retry", logging.WARNING, record=record_id,
                      attempts=attempts + 1, reason=error)
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception as exc:  # a bad round must not end deliveries
                event(log, "webhook.loop_error", logging.ERROR, reason=type(exc).__name__)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ingest-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
            self._thread = None
