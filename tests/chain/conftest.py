"""Fixtures for the chain tests: fresh chains driven block by block (see ``chainkit``).

States are immutable and cheap to create (about 10 ms), so each test gets its own chain.
"""

from __future__ import annotations

import pytest
from chainkit import CLIENT, COORD, MINER, MINER_BOND, Chain, make_genesis


@pytest.fixture
def chain() -> Chain:
    """One validator, funded accounts, one registered coordinator."""
    return Chain(make_genesis(1))


@pytest.fixture
def chain4() -> Chain:
    """Four validators of equal power: one of them alone is not more than 2/3."""
    return Chain(make_genesis(4))


@pytest.fixture
def market(chain: Chain) -> Chain:
    """A chain where MINER is bonded and CLIENT has escrow with COORD: ready to settle jobs."""
    chain.step([
        chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}),
        chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 10_000}),
    ])
    return chain
