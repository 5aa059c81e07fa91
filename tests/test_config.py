from pathlib import Path

import pytest

from station import config
from station.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "station.toml"


def test_example_file_is_valid_and_complete() -> None:
    cfg = config.load(EXAMPLE)
    assert cfg.station.id == "hcm-q1-desk-01"
    assert cfg.mqtt.port == 8883
    assert cfg.outbox.ttl_hours == 72.0
    # The example documents every key of every section.
    text = EXAMPLE.read_text()
    import dataclasses

    for section in dataclasses.fields(config.Config):
        assert f"[{section.name}]" in text
        for f in dataclasses.fields(getattr(cfg, section.name)):
            assert f"\n{f.name} " in text, f"{section.name}.{f.name} undocumented"


def test_config_is_frozen() -> None:
    cfg = config.Config()
    with pytest.raises(AttributeError):
        cfg.station.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "key", "problem"),
    [
        ("[station]\nidd = 'x'", "station.idd", "unknown key"),
        ("[nosection]\n", "nosection", "unknown key"),
        ("[mqtt]\nport = 'x'", "mqtt.port", "must be an integer"),
        ("[mqtt]\nport = 70000", "mqtt.port", "must be a TCP port"),
        ("[mqtt]\ntls = 1", "mqtt.tls", "must be true or false"),
        ("[station]\nprofile = 'casino'", "station.profile", "must be one of"),
        ("[station]\nid = 'a/b'", "station.id", "letters, digits"),
        ("[camera]\nsource = 'replay'", "camera.path", "required"),
        ("[outbox]\nttl_hours = 0", "outbox.ttl_hours", "> 0"),
        ("mqtt = 3", "mqtt", "must be a table"),
        ("[reader]\ntimeout_s = true", "reader.timeout_s", "must be a number"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, toml: str, key: str, problem: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        config.load(p)
    assert exc.value.key == key
    assert problem in exc.value.problem


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "absent.toml")
    p = tmp_path / "broken.toml"
    p.write_text("[station\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(p)
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(p)


def test_relative_paths_live_in_state_dir() -> None:
    cfg = config.from_dict({"station": {"state_dir": "/srv/st"}})
    assert cfg.state_path("outbox.sqlite3") == Path("/srv/st/outbox.sqlite3")
    assert cfg.state_path("/abs/x") == Path("/abs/x")


def test_trust_store_lives_in_state_dir_unless_absolute_or_empty() -> None:
    assert config.from_dict({"station": {"state_dir": "/srv/st"}}).trust_dir() == \
        Path("/srv/st/trust")
    assert config.from_dict({"trust": {"path": "/etc/csca"}}).trust_dir() == Path("/etc/csca")
    assert config.from_dict({"trust": {"path": ""}}).trust_dir() is None


def test_mqtt_release_settings() -> None:
    from_dict = config.from_dict
    assert from_dict({}).mqtt.release == "receipt"
    cfg = from_dict({"mqtt": {"release": "puback", "receipt_timeout_s": 5, "max_unreceipted": 0}})
    assert (cfg.mqtt.release, cfg.mqtt.receipt_timeout_s, cfg.mqtt.max_unreceipted) == (
        "puback", 5.0, 0)
    for bad in ({"release": "never"}, {"receipt_timeout_s": 0}, {"max_unreceipted": -1}):
        with pytest.raises(ConfigError):
            from_dict({"mqtt": bad})
