import json
import logging

import pytest

from station import log as slog


def test_key_value_and_pii_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    slog.setup("info")
    slog.event(logging.getLogger("t"), "card.read", files=6, name="NGUYEN VAN AN",
               id_number="001089012345", note="two words")
    err = capsys.readouterr().err
    assert "event=card.read" in err
    assert "files=6" in err
    assert 'note="two words"' in err
    assert "NGUYEN" not in err and "001089012345" not in err
    assert "name=[redacted]" in err


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    slog.setup("info", as_json=True)
    slog.event(logging.getLogger("t"), "outbox.stored", seq=3, can="123456")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    obj = json.loads(line)
    assert obj["event"] == "outbox.stored"
    assert obj["seq"] == 3
    assert obj["can"] == "[redacted]"


def test_exception_message_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    slog.setup("info")
    try:
        raise ValueError("secret 001089012345")
    except ValueError:
        logging.getLogger("t").exception("failed")
    err = capsys.readouterr().err
    assert "exc=ValueError" in err
    assert "001089012345" not in err
