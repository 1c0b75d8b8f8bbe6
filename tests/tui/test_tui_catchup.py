"""The Chain screen's progress line while a node catches up with its peers."""

from __future__ import annotations

from aitbc_tui.models import NodeModel
from aitbc_tui.screens.chain import catch_up_line


def test_progress_line_shows_height_target_rate_and_eta() -> None:
    assert catch_up_line(NodeModel()) == ""
    assert catch_up_line(NodeModel(height=1234)) == "height 1,234"
    behind = NodeModel(height=1200, catching_up=True, sync_target=5000, sync_blocks_per_s=250.4, sync_eta_s=15.2)
    assert catch_up_line(behind) == "catching up 1,200/5,000 · 250 blocks/s · ETA 15s"
    starting = NodeModel(height=3, catching_up=True, sync_target=900)
    assert catch_up_line(starting) == "catching up 3/900 · 0 blocks/s"
