"""Unit tests of the console's pure parts: formatting, the store models, settings, log parsing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from rich.color import Color as RichColor
from textual.color import Color
from textual.theme import Theme

from daemons.common.home import Home

from aitbc_tui.config import TuiConfig, config_path, load_config, save_config
from aitbc_tui.format import ait, clock, parse_amount, percent_bps, seconds, short_addr, short_hash
from aitbc_tui.models import AccountView, BlockRow, CoordinatorModel, EventLine, EventLog, JobRow, MinerModel, NodeModel
from aitbc_tui.screens.chain import classify_query
from aitbc_tui.screens.dialogs import TransferRequest, _milli, transfer_summary
from aitbc_tui.sources.logs import LogTail, parse_line
from aitbc_tui.sources.registry import available
from aitbc_tui.app import AitbcApp
from aitbc_tui.theme import ANSI_INDEX, THEMES
from aitbc_tui.widgets.overflow import overflow_mark
from aitbc_tui.widgets.panels import spark


def test_amounts_are_exact() -> None:
    assert ait(1_234_567) == "1.234567 AIT"
    assert ait(1_000_002_760_000) == "1,000,002.76 AIT"
    assert ait(10 * 10**6) == "10.00 AIT" and ait(642) == "0.000642 AIT"  # trimmed, never rounded to 0.00
    assert ait(10 * 10**6, full=True) == "10.000000 AIT" and ait(989_999_999_990, full=True, suffix=False) == "989,999.999990"
    assert ait(-5, suffix=False) == "-0.000005"
    assert ait(None) == "-"
    assert parse_amount("12.5") == 12_500_000
    assert parse_amount("1,000 AIT") == 1_000_000_000
    assert parse_amount("250u") == 250
    assert parse_amount(".5") == 500_000
    for bad in ("1.2345678", "abc", "1.2.3", "-1", "u"):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_small_formatters() -> None:
    assert short_hash("ab" * 32) == "abababab" + "ab" + "…"
    assert short_addr("0x" + "1" * 40) == "0x111111…1111"
    assert percent_bps(1000) == "10.00%" and percent_bps(5) == "0.05%"
    assert seconds(0.2) == "0.20 s" and seconds(200) == "3 m 20 s"
    assert clock(0) == "--:--:--" and clock(1_795_000_000_000) == "11:06:40"
    assert _milli("0.7") == 700 and _milli("1") == 1000 and _milli("") == 0
    with pytest.raises(ValueError):
        _milli("0.1234")
    assert spark([0, 50, 100], 3, 0, 100) == "▁▄█"
    assert spark([], 5) == ""


def test_search_classification() -> None:
    assert classify_query(" 42 ") == ("height", 42)
    assert classify_query("0x" + "a" * 40) == ("address", "0x" + "a" * 40)
    assert classify_query("F" * 64) == ("hash", "f" * 64)
    for bad in ("0", "0x123", "hello", "g" * 64):
        with pytest.raises(ValueError):
            classify_query(bad)


def test_event_log_collapses_empty_blocks() -> None:
    log = EventLog(maxlen=5)
    for height in range(1, 50):
        log.add_block(height, height * 100, 0)
    assert [line.text for line in log] == ["blocks 1–49 committed (no txs)"]
    log.add_block(50, 5000, 2)
    log.add_block(51, 5100, 0)
    log.add(EventLine(time_ms=1, source="node", text="hello"))
    assert [line.text for line in log][-3:] == ["block 50 committed with 2 txs", "block 51 committed (no txs)", "hello"]
    before = log.seq
    log.add_block(52, 5200, 0)
    assert log.seq > before and list(log)[-1].text == "block 52 committed (no txs)"


def test_node_model_orders_and_dedupes_blocks() -> None:
    node = NodeModel()
    for height in (1, 2, 3):
        assert node.add_block(BlockRow(height=height, hash=str(height), time_ms=height * 200, proposer="p", num_txs=0))
    assert not node.add_block(BlockRow(height=2, hash="2", time_ms=400, proposer="p", num_txs=0))
    assert [b.height for b in node.blocks] == [3, 2, 1] and node.height == 3
    assert node.block_intervals_s == [0.2, 0.2]
    assert node.avg_block_time_s() == pytest.approx(0.2)


def test_account_from_rpc() -> None:
    view = AccountView.from_rpc({
        "address": "0x" + "1" * 40, "balance": 5, "nonce": 1, "pending_nonce": 2,
        "stakes": [{"validator": "0x" + "2" * 40, "amount": 7, "rewards": 3}],
        "unbonding": [{"release": 120, "kind": "unstake", "amount": 4}],
        "escrows": [{"coordinator": "0x" + "3" * 40, "balance": 9}], "miner": {"bond": 11}, "validator": None})
    assert (view.staked, view.rewards, view.miner_bond, view.is_validator) == (7, 3, 11, False)
    assert view.unbonding[0].release_height == 120 and view.escrows[0].balance == 9


def test_coordinator_model_keeps_jobs_newest_first() -> None:
    model = CoordinatorModel()
    def job(i: int, status: str) -> JobRow:
        return JobRow(job_id=f"j{i}", client="c", model="m", prompt="p", params={}, max_price=1, status=status,
                      created_ms=i, updated_ms=i)

    for i in range(3):
        model.put_job(job(i, "queued"))
    previous = model.put_job(job(1, "completed"))
    assert previous is not None and previous.status == "queued"
    assert [j.job_id for j in model.jobs] == ["j2", "j1", "j0"] and model.job("j1").status == "completed"


def test_miner_history_is_bounded() -> None:
    model = MinerModel()
    for i in range(500):
        model.record("gpu0.util", i)
    model.record("gpu0.util", None)
    assert len(model.history["gpu0.util"]) == 120 and model.history["gpu0.util"][-1] == 499


def test_transfer_summary_shows_fee_and_totals() -> None:
    request = TransferRequest(kind="send", wallet="0x" + "1" * 40, target="0x" + "2" * 40, amount=12_500_000, fee=10)
    rows = dict((label, str(value)) for label, value in transfer_summary(request, "main", 100_000_000))
    assert rows["Amount"] == "12.500000 AIT" and rows["Fee"].startswith("0.000010 AIT")
    assert rows["Total"] == "12.500010 AIT" and rows["Balance after"] == "87.499990 AIT"


def test_config_round_trip_and_broken_file(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "h")
    assert load_config(home) == (TuiConfig(), None)
    save_config(home, TuiConfig(theme="textual-light", log_level="error"))
    assert config_path(home).stat().st_mode & 0o777 == 0o600
    loaded, problem = load_config(home)
    assert problem is None and loaded.theme == "textual-light" and loaded.log_level == "error"
    config_path(home).write_text("theme = [not toml")
    loaded, problem = load_config(home)
    assert loaded == TuiConfig() and problem is not None and "not valid TOML" in problem
    config_path(home).write_text('log_level = "loud"\n')
    loaded, problem = load_config(home)
    assert loaded == TuiConfig() and problem is not None and "log_level" in problem


def test_log_lines_and_tail(tmp_path: Path) -> None:
    line = parse_line(json.dumps({"ts": "2026-11-25T13:25:53.603+00:00", "level": "WARNING", "service": "node",
                                  "logger": "x", "msg": "hello", "height": 5}), "node.log")
    assert line is not None and line.level == "warning" and line.clock == "13:25:53.603" and line.extra == {"height": 5}
    assert line.matches("info", None, "HELLO") and not line.matches("error", None, "") and not line.matches("debug", "wallet", "")
    audit = parse_line('{"ts": "t", "service": "wallet", "event": "key_unlocked"}', "audit.log")
    assert audit is not None and audit.msg == "audit: key_unlocked"
    raw = parse_line("not json at all", "x.log")
    assert raw is not None and raw.msg == "not json at all" and raw.service == "x"
    assert parse_line("   ", "x.log") is None

    logs = tmp_path / "logs"
    logs.mkdir()
    tail = LogTail(logs)
    assert tail.poll() == []
    path = logs / "node.log"
    path.write_text('{"ts": "1", "msg": "a"}\n{"ts": "2", "msg": "b"}\n{"ts": "3", "ms')
    assert [l.msg for l in tail.poll()] == ["a", "b"]
    with open(path, "a") as handle:
        handle.write('g": "c"}\n')
    assert [l.msg for l in tail.poll()] == ["c"]
    os.replace(path, logs / "node.log.1")  # rotation: the new file starts over
    path.write_text('{"ts": "4", "msg": "d"}\n')
    assert [l.msg for l in tail.poll()] == ["d"]
    assert tail.services == ["node"]


def test_registry_knows_this_build() -> None:
    assert available("node")


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast_ratio(a: Color, b: Color) -> float:
    """WCAG 2 contrast ratio of two opaque colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _on(value: str, background: Color) -> Color:
    """A theme variable's colour as drawn on ``background`` (``auto 60%``: contrast text at 60%)."""
    if value.startswith("auto"):
        _, _, alpha = value.partition(" ")
        return background.blend(background.get_contrast_text(1.0), float(alpha.rstrip("%") or 100) / 100)
    color = Color.parse(value)
    return background.blend(color.with_alpha(1.0), color.a) if color.a < 1 else color


TEXT_ON = [(text, ground) for ground in ("background", "surface", "panel")
           for text in ("foreground", "text", "text-muted", "accent")] + [
    ("text", "error"),  # the daemon-down banner
    ("footer-key-foreground", "footer-background"), ("footer-description-foreground", "footer-background"),
    ("block-cursor-foreground", "block-cursor-background"),  # the highlighted table row
]
"""Every text colour the console draws and the background it is drawn on."""


@pytest.mark.parametrize("theme", THEMES, ids=[t.name for t in THEMES])
def test_theme_text_meets_wcag_aa_contrast(theme: Theme) -> None:
    """Each text colour reads at 4.5:1 or better (WCAG AA); Textual's light theme drew orange
    panel titles on light grey at 1.5:1."""
    variables = theme.to_color_system().generate()
    low = {}
    for text, ground in TEXT_ON:
        background = Color.parse(variables[ground])
        ratio = contrast_ratio(_on(variables[text], background), background)
        if ratio < 4.5:
            low[f"{text} on {ground}"] = round(ratio, 2)
    assert not low, low


@pytest.mark.parametrize("theme", THEMES, ids=[t.name for t in THEMES])
def test_named_colours_read_on_every_theme_background(theme: Theme, tmp_path: Path) -> None:
    """``[red]``, ``style="green"`` and the other named colours are drawn through the app's ANSI
    palette of the theme's kind; each reads at 4.5:1 on the backgrounds text sits on (Textual's
    own palettes drew red at 3.3:1 on the dark panels and yellow at 1.8:1 on the light ones)."""
    app = AitbcApp(Home(root=tmp_path), live=False, save_settings=False)
    palette = app.ansi_theme_dark if theme.dark else app.ansi_theme_light
    variables = theme.to_color_system().generate()
    low = {}
    for name in ANSI_INDEX:
        colour = Color(*RichColor.parse(name).get_truecolor(palette, foreground=True))
        for ground in ("background", "surface", "panel"):
            ratio = contrast_ratio(colour, Color.parse(variables[ground]))
            if ratio < 4.5:
                low[f"{name} on {ground}"] = round(ratio, 2)
    assert not low, low


STYLE_WORDS = {"bold", "dim", "italic", "underline", "reverse", "strike", "not", "on"}
COLOUR_WORDS = re.compile(r"(bright_)?(black|white|red|green|yellow|blue|magenta|cyan|grey\d*|gray\d*)")


def test_the_console_uses_only_the_named_colours_checked_for_contrast() -> None:
    """A style string (``"bold red"``, ``[green]``) naming a colour outside ``ANSI_INDEX`` (say
    ``white``, unreadable on the light theme) would escape the contrast test above."""
    package = Path(__file__).resolve().parents[2] / "aitbc_tui"
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        if "cli" in path.relative_to(package).parts:
            continue  # the CLI prints to the terminal's own palette, not to the console's themes
        for literal in re.findall(r'"\[?/?([a-z_0-9 ]+)\]?"|\[/?([a-z_0-9 ]+)\]', path.read_text()):
            words = " ".join(literal).split()
            colours = [w for w in words if COLOUR_WORDS.fullmatch(w)]
            if colours and all(w in STYLE_WORDS or COLOUR_WORDS.fullmatch(w) for w in words):
                for colour in colours:
                    found.setdefault(colour, set()).add(path.name)
    assert found, "the scan found no style at all"
    assert set(found) <= set(ANSI_INDEX), {c: sorted(f) for c, f in found.items() if c not in ANSI_INDEX}


def test_overflow_mark_says_where_the_rest_is() -> None:
    assert [overflow_mark(y, top) for y, top in ((0, 0), (0, 7), (3, 7), (7, 7), (6.6, 7))] == [
        "", "↓ more", "↑↓ more", "↑ more", "↑ more"]


def test_default_themes_are_the_readable_ones() -> None:
    config = TuiConfig()
    assert (config.dark_theme, config.light_theme) == ("aitbc-dark", "aitbc-light")
    assert contrast_ratio(Color.parse("#ffa62b"), Color.parse("#E0E0E0")) < 2  # what the light theme replaced


def test_up_hints_name_the_home_it_was_started_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from daemons.ops.devnet import _home_flag

    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    assert _home_flag(Home(root=tmp_path)) == f" --home {tmp_path}"  # was "" when it matched $AITBC_HOME
    assert _home_flag(Home(root=Path("~/.aitbc"))) == ""
