"""Web daemon throughput: Explorer pages per second next to the node RPC calls they need, alone.

    python bench/bench_web.py [--txs 1000] [--seconds 5] [--clients 4]

What it does, in order:

1. Creates a temp home with a funded account, starts a real node (block time 0.2 s) and the web
   daemon (``aitbc explorer start``) as subprocesses, as an operator would.
2. Sends ``--txs`` signed transfers from that account, so its account page has that many
   transactions (the page shows the newest page of them, as a visitor sees it).
3. For ``--seconds`` each, with ``--clients`` threads issuing requests back to back, measures:
   - the block list (``GET /`` on port 3000) and, alone, the node calls it makes: ``status``,
     one batch of ``get_block`` for a page of heights and ``get_proposals`` for the newest few;
   - the account page (``GET /account/ADDR``) and, alone, its calls: ``get_account`` and
     ``get_address_txs`` for one page.
   The node calls go over the node's operator socket, the way the web daemon reaches its node.

Printed per page: pages/s, RPC sets/s, and their ratio (what the page's rendering and HTTP hop cost
on top of the data it needs). Ratios travel between machines better than absolute figures do.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from chain import crypto  # noqa: E402
from chain.encoding import sha256  # noqa: E402
from chain.params import UNIT, ChainParams  # noqa: E402
from chain.tx import make_tx  # noqa: E402
from daemons.common.home import Home  # noqa: E402
from daemons.node.client import NodeClient  # noqa: E402
from daemons.node.init import init_node  # noqa: E402
from daemons.web.explorer import HOME_PROPOSALS  # noqa: E402
from daemons.web.settings import ExplorerSettings  # noqa: E402

FEE = 10
CHUNK = 200
"""Transfers sent per batch; each batch is committed before the next, to stay inside mempool limits."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(home: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "aitbc_tui.cli", *args, "--home", str(home)],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet (refused, no socket, not committed): look again
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up within {timeout:g}s")


def fill_history(node: NodeClient, seed: bytes, chain_id: str, to: str, count: int) -> None:
    sender = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    nonce = node.get_account(sender)["pending_nonce"]
    sent = 0
    while sent < count:
        batch = [make_tx(seed, chain_id, "transfer", nonce + i, FEE, {"to": to, "amount": 1})
                 for i in range(min(CHUNK, count - sent))]
        for answer in node.broadcast_txs(batch):
            if isinstance(answer, Exception):
                raise SystemExit(f"transfer refused: {answer}")
        last = batch[-1].hash
        wait_until(lambda: node.get_tx(last)["status"] == "committed", "a batch of transfers", 120)
        nonce += len(batch)
        sent += len(batch)


def rate(fn: Callable[[], Any], seconds: float, clients: int) -> float:
    """Calls of ``fn`` per second, ``clients`` threads back to back for ``seconds``."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        while time.monotonic() < stop:
            fn()
            counts[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=1000, help="transactions of the benchmarked account")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure")
    parser.add_argument("--clients", type=int, default=4, help="concurrent requesters")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="aitbc-bw-", dir="/tmp"))
    home = Home(root=root / "h")
    seed = sha256(b"bench-web sender")
    sender = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    receiver = crypto.address_from_pubkey(crypto.pubkey_from_seed(sha256(b"bench-web receiver")))
    info = init_node(home, fund={sender: 1_000 * UNIT}, params=ChainParams(block_time_ms=200), scrypt_n=1024)
    rpc_port, web_port, market_port = free_port(), free_port(), free_port()
    procs = [spawn(home.root, root / "node.out", "node", "start", "--rpc-port", str(rpc_port), "--ws-port", "0")]
    try:
        node = NodeClient(home.socket("node"), timeout=60)
        wait_until(lambda: node.status()["height"] >= 1, "the node")
        print(f"sending {args.txs} transfers from {sender} ...", flush=True)
        fill_history(node, seed, info.chain_id, receiver, args.txs)
        procs.append(spawn(home.root, root / "explorer.out", "explorer", "start", "--port", str(web_port),
                           "--market-port", str(market_port), "--coordinator", f"http://127.0.0.1:{free_port()}"))
        base = f"http://127.0.0.1:{web_port}"
        web = httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=args.clients * 2))
        wait_until(lambda: web.get("/health").status_code == 200, "the web daemon")
        size = ExplorerSettings.model_fields["page_size"].default
        assert web.get(f"/account/{sender}").status_code == 200

        def block_list_rpc() -> None:
            top = node.status()["height"]
            node.batch([("get_block", {"height": h}) for h in range(top, max(0, top - size), -1)])
            node.get_proposals(limit=HOME_PROPOSALS)

        def account_rpc() -> None:
            node.get_account(sender)
            node.get_address_txs(sender, limit=size)

        def page(path: str) -> Callable[[], None]:
            def get() -> None:
                response = web.get(path)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path}: HTTP {response.status_code}")
            return get

        rows = [
            ("block list  GET /", rate(page("/"), args.seconds, args.clients),
             rate(block_list_rpc, args.seconds, args.clients), f"status + get_block x{size} (batch) + get_proposals"),
            (f"account ({args.txs} txs)", rate(page(f"/account/{sender}"), args.seconds, args.clients),
             rate(account_rpc, args.seconds, args.clients), f"get_account + get_address_txs(limit={size})"),
        ]
        print(f"\n{args.clients} clients, {args.seconds:g} s per figure\n")
        print(f"{'page':24} {'pages/s':>9} {'RPC sets/s':>11} {'ratio':>6}  node calls measured alone")
        for name, pages, rpcs, calls in rows:
            print(f"{name:24} {pages:9.1f} {rpcs:11.1f} {pages / rpcs:6.2f}  {calls}")
        web.close()
        node.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
