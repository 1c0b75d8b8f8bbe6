"""The wallet daemon: users' encrypted keys, signing, balances and staking.

It is the only component that signs for users, so that the TUI and the CLI never handle raw
keys: they talk to it through :class:`daemons.wallet.client.WalletClient` on its operator
socket. Keys are decrypted only in memory while a wallet is unlocked and wiped on lock, on the
idle timeout and on exit.
"""
