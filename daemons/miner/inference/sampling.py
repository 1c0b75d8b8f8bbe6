"""Next-token choice of the CPU backend: greedy argmax or seeded temperature/top-k/top-p sampling.

The order (temperature, then top_k, then top_p over the renormalised remainder) matches vLLM
and Hugging Face, so one job means the same distribution on every backend. The nucleus is
"every token whose higher-ranked mass is below top_p", the rule ``verify.judge_positions``
checks; the verifier counts only strictly higher tokens, so it accepts a superset of what this
sampler can emit. Randomness comes only from the ``torch.Generator`` seeded with the job's
seed: the same job on the same build gives the same text, whatever else the process does.

Sorting a whole vocabulary every step is slow on a CPU (tens of milliseconds for 49k entries),
so the nucleus is found with ``topk`` over a growing window that stops as soon as the window
holds ``top_p`` of the mass; usually a few dozen tokens.
"""

from __future__ import annotations

import torch

from daemons.miner.inference.schema import GenerationParams

_FIRST_WINDOW = 64
_WINDOW_GROWTH = 8


def sampler_for(params: GenerationParams) -> torch.Generator | None:
    """A generator seeded with the job's seed, or None for greedy decoding."""
    if params.greedy:
        return None
    generator = torch.Generator(device="cpu")
    generator.manual_seed(params.seed)
    return generator


def sampling_support(logits: torch.Tensor, params: GenerationParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(token ids, probabilities)`` of the tokens the job's sampler may draw, most likely first.

    Probabilities are those of the temperature-scaled distribution (renormalised over the top_k
    tokens when top_k is set); they need not sum to 1 over the returned support.
    """
    scaled = logits.to(torch.float32) / params.temperature
    vocab = scaled.shape[-1]
    if 0 < params.top_k < vocab:
        values, ids = torch.topk(scaled, params.top_k)
        probs = torch.softmax(values, dim=-1)
    else:
        full = torch.softmax(scaled, dim=-1)
        if params.top_p >= 1.0:
            return torch.arange(vocab), full
        window = min(vocab, _FIRST_WINDOW)
        while True:
            probs, ids = torch.topk(full, window)
            if window == vocab or float(probs.sum()) >= params.top_p:
                break
            window = min(vocab, window * _WINDOW_GROWTH)
    if params.top_p < 1.0:
        mass_before = torch.cumsum(probs, dim=-1) - probs
        keep = mass_before < params.top_p
        keep[0] = True
        ids, probs = ids[keep], probs[keep]
    return ids, probs


def next_token(logits: torch.Tensor, params: GenerationParams, generator: torch.Generator | None) -> int:
    """The token to emit after a position whose logits are ``logits`` (shape ``[vocab]``)."""
    if params.greedy:
        return int(torch.argmax(logits))
    if generator is None:
        raise ValueError("sampling needs the job's seeded generator (see sampler_for)")
    ids, probs = sampling_support(logits, params)
    # Inverse-CDF draw: one uniform from the job's generator, then a binary search. Cheaper than
    # torch.multinomial over a whole vocabulary, and a zero-probability token is never chosen.
    cdf = torch.cumsum(probs.to(torch.float64), dim=-1)
    point = torch.rand((), generator=generator, dtype=torch.float64) * cdf[-1]
    choice = min(int(torch.searchsorted(cdf, point, right=True)), ids.shape[0] - 1)
    return int(ids[choice].item())
