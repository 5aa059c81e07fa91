"""The typed error hierarchy.

Every error carries what happened and where, never citizen data: messages name files, status
words, keys and offsets, not names or ID numbers.
"""

from __future__ import annotations


class StationError(Exception):
    """Base of every error the station raises on purpose."""


class ConfigError(StationError):
    """The configuration file is missing, unreadable or invalid (names the key)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


# --- card reading -------------------------------------------------------------------------


class CardError(StationError):
    """Something went wrong talking to the card or the reader."""


class ReaderUnavailable(CardError):
    """No PC/SC service, or no reader matching the configured name."""


class NoCard(CardError):
    """No card on the reader within the allowed time."""


class TagLost(CardError):
    """The card left the field (or stopped answering) mid-operation.

    ``file`` and ``offset`` say how far a read got, so the next tap can resume.
    """

    def __init__(self, message: str, *, file: str | None = None, offset: int = 0) -> None:
        self.file = file
        self.offset = offset
        super().__init__(message)


class StatusWordError(CardError):
    """The card answered a command with an error status word."""

    def __init__(self, sw: int, command: str = "") -> None:
        self.sw = sw
        self.command = command
        where = f" to {command}" if command else ""
        super().__init__(f"card answered {sw:04X}{where}")


class ProtocolError(CardError):
    """The card's answer does not follow the protocol (bad length, bad TLV, bad MAC...)."""


class AuthFailed(CardError):
    """Access control (PACE/BAC) refused the key; ``tries_left`` when the card says."""

    def __init__(self, message: str, *, tries_left: int | None = None) -> None:
        self.tries_left = tries_left
        super().__init__(message)


class UnsupportedCard(CardError):
    """The card is not an eMRTD this station can read."""


class PaceUnavailable(UnsupportedCard):
    """A document that must be read with PACE (a CCCD) offers none: EF.CardAccess missing,
    unreadable or without a PACEInfo. Refused, never downgraded to BAC, whose key (from the
    MRZ) is low-entropy enough to be found offline from a recorded session."""

    reason = "pace-unavailable"


class LdsFormatError(StationError):
    """A data group or EF is malformed."""


class EmptyFile(LdsFormatError):
    """An EF that SELECT finds holds no bytes (vsmartcard's vicc ePass issues an empty DG2 and
    an empty EF at 010D): there is nothing to parse or verify, so it is reported as absent."""


# --- verification, QR, pipeline -------------------------------------------------------------


class VerificationFailed(StationError):
    """Passive/chip/active authentication could not establish the card as genuine."""


class QrFormatError(StationError):
    """A QR payload is not a valid CCCD payload (names the field, never its value)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class MrzError(StationError):
    """A machine-readable zone is malformed or fails a check digit (names the field only)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"MRZ {field}: {problem}")


class CameraError(StationError):
    """The camera cannot be opened, or stopped delivering frames (names the device or file)."""


class MrzNotFound(MrzError):
    """No machine-readable zone is visible in a camera frame (keep looking)."""


class StoreError(StationError):
    """The outbox cannot store (disk full, size cap, corrupt database)."""


class OutputError(StationError):
    """An opened record cannot be rendered in the asked form (unknown form, a profile the form
    does not take, a missing optional library): names the form and profile, never content."""


class OutboxFull(StoreError):
    """The outbox refuses new records rather than lose queued ones."""


# --- keys and provisioning -----------------------------------------------------------------


class KeyStoreError(StationError):
    """A key or certificate file cannot be used (names the file, never its content)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class KeyMissing(KeyStoreError):
    """The key or certificate file does not exist."""


class UnsafeKeyFile(KeyStoreError):
    """A private key is readable by group/others, or owned by the wrong user: refuse it."""


class KeyFormatError(KeyStoreError):
    """The file is not the expected kind of key (wrong PEM, wrong algorithm)."""


class ProvisioningError(StationError):
    """Provisioning cannot go on (an identity exists already, a CSR does not match...)."""


class FeedbackUnavailable(StationError):
    """The LEDs/buzzer or the display cannot be driven (library, pins, device or font)."""


# --- the backend's fleet view ----------------------------------------------------------------


class FleetError(StationError):
    """The operator console's fleet side cannot do what was asked (names the station and the
    command, never a command's arguments)."""


class FleetMessageError(FleetError):
    """A station's status, heartbeat or event message is not of the published shape (names the
    topic and the field, never the payload): it is dropped and counted."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class CommandRefused(FleetError):
    """A command the console will not send: unknown command, unknown or revoked station,
    arguments of the wrong shape, no broker connection."""
