"""Small instances of every rung of the ladder for tests: a test that loops over RUNGS covers a new rung too."""

from dataclasses import fields, replace

from lmladder.data import load_prepared, prepare_corpus
from lmladder.models import DATA_FIELDS, ladder, rung_class
from lmladder.training import (
    CheckpointSettings,
    EvalSettings,
    OptimSettings,
    Run,
    SampleSettings,
    TrainSettings,
    run_rung,
)

# sizes small enough for float64 gradient checks; a rung whose config uses other names keeps its defaults
# (context 4: a power of two, as the WaveNet needs)
SMALL = dict(n_embd=8, n_hidden=8, n_layer=2, n_layers=2, n_head=2, block_size=8, context=4, order=3)
# the mixture's neural component, as its checkpoints describe it (built from the seed: untrained, like the others)
SMALL |= dict(neural_rung="transformer", neural_config=dict(n_layer=2, n_head=2, n_embd=8, block_size=8))
SMALL |= dict(fit_on="train_tail")  # its lam from the end of the ids it is fitted on: these tests give no val split
RUNGS = ladder()  # every model file of lmladder/models, bottom to top


def small_config(rung: str, vocab_size: int = 7, **overrides):
    """`rung`'s config at test size, its data fields for a stream of `vocab_size` tokens (padding with id 0)."""
    cls = rung_class(rung)
    names = {f.name for f in fields(cls.Config)}
    data = {"vocab_size": vocab_size, "pad_id": 0, "boundary_id": None, "tokenizer_digest": None}
    assert set(DATA_FIELDS) == set(data)
    sizes = {k: v for k, v in {**SMALL, **data, **overrides}.items() if k in names}
    return replace(cls.Config(), **sizes)


def tiny_gpt_run(root, text, *, block_size: int, max_iters: int = 8, **prepare_options):
    """(run folder, prepared data): `text` prepared under `root` and a 16-wide GPT trained on it for `max_iters`
    steps: 8 move every weight off its init (what the export tests hand to foreign implementations); a few hundred
    make greedy text that is more than one token repeated."""
    prepare_corpus(text, out_dir=root / "prepared", **prepare_options)
    data = load_prepared(root / "prepared")
    train = TrainSettings(max_iters=max_iters, batch_size=4, seq_len=block_size,
                          eval=EvalSettings(interval=max_iters // 2, iters=1),
                          checkpoint=CheckpointSettings(interval=max_iters), progress=False)  # fmt: skip
    config = small_config("transformer", data.vocab_size, block_size=block_size, n_embd=16)
    run_rung(Run(rung_class("transformer"), config, data, sample=SampleSettings(num_samples=0, sample_tokens=1),
             optim=OptimSettings(lr=3e-3), train=train, seed=0, out_dir=root / "run", meta={},
             log=lambda _: 0))  # fmt: skip
    return root / "run", data
