"""Using a trained model: sampling (temperature, top-k, top-p, seeded), beam search, exact held-out scoring and
the novelty of sampled documents, written once for every rung of the ladder."""

from .beam import Beam, beam_search
from .novelty import label_samples
from .sampling import SamplingError, generate, next_token, sample_text, stream
from .scoring import score_splits, score_tokens

__all__ = [
    "Beam",
    "beam_search",
    "label_samples",
    "SamplingError",
    "generate",
    "next_token",
    "sample_text",
    "stream",
    "score_splits",
    "score_tokens",
]
