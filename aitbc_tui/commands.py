"""The command palette provider: every action of the console, found by fuzzy search.

The list is built from the app's registry at the moment the palette opens, so it only ever
offers actions that can run in this build (a screen whose daemon client is absent contributes
no actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from aitbc_tui.app import AitbcApp


class AitbcCommands(Provider):
    """Navigation, app actions and each section's actions."""

    @property
    def aitbc(self) -> AitbcApp:
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        for command in self.aitbc.palette_commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.aitbc.palette_commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
