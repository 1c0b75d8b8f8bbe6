"""Wallet daemon throughput: signed sends per second through the daemon, next to the raw
Ed25519 signing rate measured in the same run.

    .venv/bin/python bench/bench_wallet.py [--seconds 5] [--wallets 4] [--clients 8] [--block-time 0.5]

What it does, in order:

1. Measures raw signatures per second in this process (``chain.crypto.sign`` over transfer
   signing bytes): the floor cost of any send.
2. ``aitbc node init`` a temp home with ``--wallets`` funded accounts, then starts the node and
   the wallet daemon (``aitbc node start`` / ``aitbc wallet start``) as subprocesses, as an
   operator would. The wallets are imported by private key and unlocked (the KDF cost is set low
   for the setup, since unlocking is not what is measured).
3. One client, one wallet: sends back to back over the operator socket (``mode=sync``: answered
   once the node admitted the transaction). This is the latency-bound rate one user sees.
4. ``--clients`` threads spread over the ``--wallets`` wallets, for ``--seconds``: the daemon's
   throughput when several wallets send at once (sends of one wallet are serialized by design,
   so that no nonce is used twice).
5. Waits for the node's mempool to drain and checks every acknowledged send was committed.

Each rate is also printed as a ratio of the raw signing rate; a send also costs a nonce lookup
and an admission round trip to the node, two HTTP hops and an fsynced audit record, so the
ratio says how much of a send is signing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the product, and the process helpers it shares with the tests

from benchkit import bench_parser  # noqa: E402
from testkit import Daemon, aitbc_command, free_port, hermetic_env, service_daemon, temp_root  # noqa: E402

from chain import crypto  # noqa: E402
from chain.tx import signing_bytes  # noqa: E402
from daemons.common.errors import DaemonError  # noqa: E402
from daemons.common.home import Home  # noqa: E402
from daemons.node.client import NodeClient  # noqa: E402
from daemons.wallet.client import WalletClient  # noqa: E402
from keys import KeyPair  # noqa: E402

PASSWORD = "bench-password"


def raw_signs_per_second(seconds: float) -> float:
    seed = crypto.generate_seed()
    sender = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    pubkey = crypto.pubkey_from_seed(seed).hex()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fields = {"chain_id": "aitbc-bench", "type": "transfer", "sender": sender, "nonce": count, "fee": 10,
                  "payload": {"to": sender, "amount": 1}, "pubkey": pubkey}
        crypto.sign(seed, signing_bytes(fields))
        count += 1
    return count / (time.perf_counter() - start)


def start(home: Home, service: str, *args: str) -> Daemon:
    """``aitbc SERVICE start`` on ``home``, quiet (warnings only), once it answers."""
    return service_daemon(service, home.root, *args, env={"AITBC_LOG_LEVEL": "warning"},
                          output_file=home.root.parent / f"{service}.out").start()


def sequential(home: Home, wallet: str, target: str, seconds: float) -> tuple[int, float]:
    count = 0
    with WalletClient.for_home(home) as client:
        begin = time.perf_counter()
        while time.perf_counter() - begin < seconds:
            client.send(target, 1, wallet=wallet)
            count += 1
        return count, time.perf_counter() - begin


def concurrent(home: Home, wallets: list[str], target: str, clients: int, seconds: float) -> tuple[int, float, int]:
    counts = [0] * clients
    errors = [0] * clients
    stop = threading.Event()

    def work(index: int) -> None:
        with WalletClient.for_home(home) as client:
            while not stop.is_set():
                try:
                    client.send(target, 1, wallet=wallets[index % len(wallets)])
                    counts[index] += 1
                except DaemonError:
                    errors[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - begin, sum(errors)


def main() -> None:
    parser = bench_parser(__doc__, block_time=0.5, seconds=(5.0, "duration of each send phase"))
    parser.add_argument("--wallets", type=int, default=4, help="funded wallets sending at once")
    parser.add_argument("--clients", type=int, default=8, help="client threads in the concurrent phase")
    args = parser.parse_args()

    signs = raw_signs_per_second(2.0)
    print(f"raw signing (chain.crypto.sign):       {signs:10.0f} signatures/s")

    with temp_root("aitbc-bw-") as base:
        bench(Home(root=base / "h"), args, signs)


def bench(home: Home, args: argparse.Namespace, signs: float) -> None:
    keypairs = [KeyPair.generate() for _ in range(args.wallets)]
    procs: list[Daemon] = []
    try:
        init = aitbc_command("node", "init", "--home", str(home.root), "--block-time", str(args.block_time), "--json")
        for keypair in keypairs:
            init += ["--fund", f"{keypair.address}=1000000"]
        subprocess.run(init, env=hermetic_env(AITBC_LOG_LEVEL="warning"), check=True, capture_output=True)
        procs.append(start(home, "node", "--rpc-port", str(free_port()), "--ws-port", str(free_port())))
        procs.append(start(home, "wallet", "--scrypt-n", str(2**12), "--idle-lock", "0"))
        names = []
        with WalletClient.for_home(home) as client:
            for index, keypair in enumerate(keypairs):
                name = f"bench{index}"
                client.import_private_key(keypair.seed_bytes().hex(), PASSWORD, name)
                client.unlock(PASSWORD, name, timeout_s=0)
                names.append(name)
                keypair.wipe()
        target = KeyPair.generate().address

        one, one_s = sequential(home, names[0], target, args.seconds)
        one_rate = one / one_s
        print(f"wallet sends, 1 client, 1 wallet:      {one_rate:10.1f} sends/s  "
              f"({one_rate / signs:6.2%} of raw signing; {1000 * one_s / one:.2f} ms per send)")
        many, many_s, errors = concurrent(home, names, target, args.clients, args.seconds)
        many_rate = many / many_s
        print(f"wallet sends, {args.clients} clients, {len(names)} wallets: {many_rate:10.1f} sends/s  "
              f"({many_rate / signs:6.2%} of raw signing; {errors} refused)")

        with NodeClient.for_home(home) as node:
            deadline = time.monotonic() + 120
            while node.mempool(limit=1)["size"] and time.monotonic() < deadline:
                time.sleep(0.2)
            committed = sum(node.get_account(address)["nonce"] for address in (kp.address for kp in keypairs))
        print(f"acknowledged sends: {one + many}, committed: {committed}")
        print(json.dumps({"raw_signs_per_s": round(signs), "sends_per_s_1_client": round(one_rate, 1),
                          f"sends_per_s_{args.clients}_clients": round(many_rate, 1),
                          "ratio_1_client": round(one_rate / signs, 4),
                          f"ratio_{args.clients}_clients": round(many_rate / signs, 4)}))
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    main()
