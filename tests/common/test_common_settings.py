"""Settings layering (defaults < TOML < env < overrides) and one-line errors naming field + source."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from testkit import one_line_error
from pydantic import Field

from daemons.common.home import Home
from daemons.common.settings import CommonSettings, Duration, DurationMs, Port, SettingsError, bare_env, load_settings
from daemons.coordinator.settings import CoordinatorSettings
from daemons.miner.settings import MinerSettings
from daemons.node.settings import NodeSettings
from daemons.wallet.settings import WalletSettings


class NodeLike(CommonSettings):
    """A stand-in for the node's settings: own table, own bare env names, own port default."""

    service: ClassVar[str] = "node"
    api_port: Port = 26657  # redefined without alias: API_PORT must still work
    block_time: float = Field(1.0, gt=0, validation_alias=bare_env("BLOCK_TIME"))
    consensus_mode: str = Field("poa", validation_alias=bare_env("CONSENSUS_MODE"))
    seeds: list[str] = []


def write_config(home: Home, text: str) -> Path:
    home.root.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text(text, encoding="utf-8")
    return home.config_file


def test_defaults(home: Home) -> None:
    s = load_settings(NodeLike, home)
    assert s.home == home
    assert (s.block_time, s.consensus_mode, s.log_level, s.api_host, s.api_port) == \
        (1.0, "poa", "info", "127.0.0.1", 26657)
    assert s.database_url == f"sqlite:///{home.data_dir}/node.db"
    assert s.max_body_bytes == 1 << 20
    assert s.tcp_listeners() == [("127.0.0.1", 26657)]


def test_toml_beats_defaults_and_section_beats_top_level(home: Home) -> None:
    write_config(home, """
log_level = "WARNING"
api_host = "0.0.0.0"
[node]
block_time = 2.5
api_host = "127.0.0.2"
seeds = ["a:1", "b:2"]
[coordinator]
no_such_setting_for_the_node = 1
""")
    s = load_settings(NodeLike, home)
    assert (s.log_level, s.block_time, s.api_host, s.seeds) == ("warning", 2.5, "127.0.0.2", ["a:1", "b:2"])


def test_env_beats_toml_and_prefixed_beats_bare(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, "[node]\nblock_time = 2.5\napi_port = 1000\nconsensus_mode = 'pos'\n")
    monkeypatch.setenv("BLOCK_TIME", "3")
    monkeypatch.setenv("API_PORT", "2000")
    monkeypatch.setenv("AITBC_SEEDS", '["c:3"]')
    monkeypatch.setenv("LOG_LEVEL", "Debug")
    s = load_settings(NodeLike, home)
    assert (s.block_time, s.api_port, s.seeds, s.log_level, s.consensus_mode) == \
        (3.0, 2000, ["c:3"], "debug", "pos")
    monkeypatch.setenv("AITBC_BLOCK_TIME", "4")
    assert load_settings(NodeLike, home).block_time == 4.0


def test_overrides_beat_env_and_none_means_not_given(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCK_TIME", "3")
    assert load_settings(NodeLike, home, block_time=5).block_time == 5.0
    assert load_settings(NodeLike, home, block_time=None).block_time == 3.0


def test_explicit_config_file_replaces_the_home_one(home: Home, tmp_path: Path) -> None:
    write_config(home, "[node]\nblock_time = 2.5\n")
    other = tmp_path / "custom.toml"
    other.write_text("[validator]\nblock_time = 7\n")
    s = load_settings(NodeLike, home, config_file=other, section="validator")
    assert s.block_time == 7.0


def test_database_url_from_env(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://aitbc@db/aitbc")
    assert load_settings(NodeLike, home).database_url == "postgresql://aitbc@db/aitbc"


def test_tcp_can_be_disabled(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITBC_TCP_ENABLED", "false")
    assert load_settings(NodeLike, home).tcp_listeners() == []


def test_home_argument_may_be_a_path_resolved_like_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITBC_HOME", str(tmp_path / "envhome"))
    assert load_settings(NodeLike).home.root == tmp_path / "envhome"
    assert load_settings(NodeLike, tmp_path / "flag").home.root == tmp_path / "flag"


@pytest.mark.parametrize(("toml", "env", "expected"), [
    ("[node]\nblock_time = -1\n", {}, r"config\.toml \[node\]\.block_time: input should be greater than 0 \(got -1\)"),
    ("[node]\nblok_time = 1\n", {}, r"config\.toml \[node\]\.blok_time: unknown setting"),
    ("", {"BLOCK_TIME": "soon"}, r"^env BLOCK_TIME: input should be a valid number.*\(got 'soon'\)"),
    ("", {"AITBC_API_PORT": "70000"}, r"^env AITBC_API_PORT: input should be less than or equal to 65535"),
    ("", {"LOG_LEVEL": "loud"}, r"^env LOG_LEVEL: input should be 'debug', 'info', 'warning' or 'error'"),
    ("log_level = 'verbose'\n", {}, r"config\.toml log_level: input should be"),
    ("block_time = 2\n", {}, r"config\.toml block_time: unknown common setting .*\[node\]"),
    ("[node]\nblock_time = 2\nnode = 3\n", {}, r"config\.toml \[node\]\.node: unknown setting"),
    ("node = 3\n", {}, r"config\.toml node: unknown common setting"),
    ("[node\n", {}, r"config\.toml: cannot read TOML"),
    ("[node]\nhome = '/elsewhere'\n", {}, r"config\.toml \[node\]\.home: the home cannot be set"),
    ("", {"AITBC_SEEDS": "[not json"}, r"^env AITBC_SEEDS: not valid JSON"),
])
def test_errors_name_the_field_and_its_source(home: Home, monkeypatch: pytest.MonkeyPatch,
                                              toml: str, env: dict[str, str], expected: str) -> None:
    write_config(home, toml)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with one_line_error(SettingsError, expected):
        load_settings(NodeLike, home)


def test_override_errors_name_the_argument(home: Home) -> None:
    with pytest.raises(SettingsError, match=r"^argument block_time: input should be greater than 0"):
        load_settings(NodeLike, home, block_time=0)


def test_missing_explicit_config_is_an_error(home: Home, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"config file .*nope\.toml: not found"):
        load_settings(NodeLike, home, config_file=tmp_path / "nope.toml")


def test_secret_values_are_not_echoed_in_errors(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    class WithSecret(CommonSettings):
        service: ClassVar[str] = "wallet"
        unlock_passphrase: int = 0

    monkeypatch.setenv("AITBC_UNLOCK_PASSPHRASE", "hunter2")
    with pytest.raises(SettingsError) as info:
        load_settings(WithSecret, home)
    assert "env AITBC_UNLOCK_PASSPHRASE" in str(info.value)
    assert "hunter2" not in str(info.value)


class Timed(CommonSettings):
    """Durations as every daemon declares them: seconds, optional seconds, whole milliseconds."""

    service: ClassVar[str] = "node"
    block_time: Duration | None = Field(None, gt=0, le=600, validation_alias=bare_env("BLOCK_TIME"))
    poll_wait: Duration = Field(10.0, gt=0, le=30)
    timeout_vote_ms: DurationMs = Field(500, ge=10, le=600_000)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5), ("3", 3.0), (" 2S ", 2.0), ("1m30s", 90.0),
    ("0.25s", 0.25),
])
def test_durations_take_units_or_plain_seconds(home: Home, monkeypatch: pytest.MonkeyPatch,
                                              text: str, seconds: float) -> None:
    monkeypatch.setenv("BLOCK_TIME", text)
    assert load_settings(Timed, home).block_time == pytest.approx(seconds)


def test_durations_in_toml_and_milliseconds(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, "[node]\npoll_wait = '500ms'\ntimeout_vote_ms = '2s'\n")
    s = load_settings(Timed, home)
    assert (s.block_time, s.poll_wait, s.timeout_vote_ms) == (None, 0.5, 2000)
    monkeypatch.setenv("AITBC_TIMEOUT_VOTE_MS", "250")  # a plain number is the field's own unit
    assert load_settings(Timed, home).timeout_vote_ms == 250
    assert load_settings(Timed, home, poll_wait="20s").poll_wait == 20.0


@pytest.mark.parametrize(("text", "expected"), [
    ("soon", r"^env BLOCK_TIME: a duration is a number of seconds or a number with a unit .*\(got 'soon'\)"),
    ("1sx", r"^env BLOCK_TIME: a duration is"),
    ("s", r"^env BLOCK_TIME: a duration is"),
    ("-1s", r"^env BLOCK_TIME: a duration is"),
    ("0ms", r"^env BLOCK_TIME: input should be greater than 0"),
    ("11m", r"^env BLOCK_TIME: input should be less than or equal to 600"),
])
def test_bad_durations_are_refused_with_the_units_allowed(home: Home, monkeypatch: pytest.MonkeyPatch,
                                                          text: str, expected: str) -> None:
    monkeypatch.setenv("BLOCK_TIME", text)
    with pytest.raises(SettingsError, match=expected):
        load_settings(Timed, home)


def test_fractional_milliseconds_are_refused(home: Home) -> None:
    with pytest.raises(SettingsError, match=r"^argument timeout_vote_ms: .*fractional"):
        load_settings(Timed, home, timeout_vote_ms="1.5ms")


@pytest.mark.parametrize("cls", [NodeSettings, CoordinatorSettings, MinerSettings, WalletSettings])
def test_every_daemon_time_setting_takes_units(home: Home, cls: type[CommonSettings]) -> None:
    """No daemon declares a time as a bare number: each one takes the seed's ``1s``."""
    words = ("time", "interval", "wait", "refresh", "retry", "deadline", "cache", "backoff", "idle_lock", "_ms")
    timed = [n for n in cls.model_fields if any(w in n for w in words)]
    assert len(timed) >= 3
    for name in timed:
        value = getattr(load_settings(cls, home, **{name: "1s"}), name)
        assert value == (1000 if name.endswith("_ms") else 1.0), f"{cls.__name__}.{name} = {value!r}"


@pytest.mark.parametrize(("env", "level"), [
    ({"DEBUG": "true"}, "debug"), ({"DEBUG": "true", "LOG_LEVEL": "warning"}, "debug"),
    ({"DEBUG": "false", "LOG_LEVEL": "warning"}, "warning"), ({"AITBC_DEBUG": "1"}, "debug"), ({}, "info"),
])
def test_debug_true_means_debug_logging(home: Home, monkeypatch: pytest.MonkeyPatch,
                                        env: dict[str, str], level: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(NodeLike, home).log_level == level


def test_relative_sqlite_url_is_relative_to_the_home(home: Home, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///data/coordinator.db")
    assert load_settings(NodeLike, home).database_url == f"sqlite:///{home.root}/data/coordinator.db"
    monkeypatch.setenv("DATABASE_URL", "sqlite:////abs/x.db")
    assert load_settings(NodeLike, home).database_url == "sqlite:////abs/x.db"


def test_a_node_refuses_a_body_limit_its_peers_proposals_would_pass(home: Home) -> None:
    write_config(home, "[node]\nmax_body_bytes = 65536\n")
    with pytest.raises(SettingsError, match=r"max_body_bytes.*at least 1048576 bytes: its peers' proposals"):
        load_settings(NodeSettings, home)
    write_config(home, "[node]\nmax_body_bytes = 4194304\n")
    assert load_settings(NodeSettings, home).max_body_bytes == 4 << 20
