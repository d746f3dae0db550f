"""Small instances of every rung of the ladder for tests: a test that loops over RUNGS covers a new rung too."""

from dataclasses import fields, replace

from lmladder.models import DATA_FIELDS, ladder, rung_class

# sizes small enough for float64 gradient checks; a rung whose config uses other names keeps its defaults
# (context 4: a power of two, as the WaveNet needs)
SMALL = dict(n_embd=8, n_hidden=8, n_layer=2, n_layers=2, n_head=2, block_size=8, context=4, order=3)
# the mixture's neural component, as its checkpoints describe it (built from the seed: untrained, like the others)
SMALL |= dict(neural_rung="transformer", neural_config=dict(n_layer=2, n_head=2, n_embd=8, block_size=8))
RUNGS = ladder()  # every model file of lmladder/models, bottom to top


def small_config(rung: str, vocab_size: int = 7, **overrides):
    """`rung`'s config at test size, its data fields for a stream of `vocab_size` tokens (padding with id 0)."""
    cls = rung_class(rung)
    names = {f.name for f in fields(cls.Config)}
    data = {"vocab_size": vocab_size, "pad_id": 0, "boundary_id": None, "tokenizer_digest": None}
    assert set(DATA_FIELDS) == set(data)
    sizes = {k: v for k, v in {**SMALL, **data, **overrides}.items() if k in names}
    return replace(cls.Config(), **sizes)
