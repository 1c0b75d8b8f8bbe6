"""One screen per section (Dashboard, Chain, Jobs, Wallets, Staking, Miner, Logs) plus dialogs."""
