"""The deterministic core of the AITBC chain.

Everything in this package is a pure function of its inputs: no disk, no network, no clock, no
threads. Nodes that feed it the same genesis and the same blocks reach the same state, byte for
byte; that is what lets consensus be tested exhaustively.
"""
