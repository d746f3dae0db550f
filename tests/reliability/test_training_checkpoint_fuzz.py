"""Fuzz the loaders that *interpret* a checkpoint: `load_training_checkpoint` (rebuilds the model its metadata
describes) and the resume path (optimizer state, RNG states, step). Every mutated file is re-saved with valid
checksums, so it gets past the file-level checks of tests/io/test_checkpoint_fuzz.py and reaches the rebuild:
hostile model kwargs (n_embd=10**9, n_layer=-1, a list for a size), dtypes, tokenizers, dropped/added/reshaped/
re-typed arrays, optimizer hyper-parameters, RNG states and a weight average's record and trained weights.

Oracle: only CheckpointError (the resume path: CheckpointError or TrainingError) ever comes out; whatever loads is
usable (a forward pass and one sampled token work); and no example allocates more than MAX_PEAK bytes, i.e. a
metadata that asks for a huge model is refused *before* the model is built.
"""

import copy
import json
import os
import re
import time
import tracemalloc
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lmladder.checkpoints import load_training_checkpoint, save_training_checkpoint
from lmladder.data import CharTokenizer
from lmladder.inference.sampling import generate
from lmladder.io import CheckpointError, load_checkpoint, save_checkpoint
from lmladder.models import rung_class
from lmladder.parallel import World
from lmladder.training import TrainingError, make_rngs
from lmladder.training.average import AverageSettings, WeightAverage
from lmladder.training.resume import restore
from lmladder.training.settings import OptimSettings

from ..ladder import RUNGS, small_config

FUZZ_EXAMPLES = max(1000, int(os.environ.get("LMLADDER_FUZZ_EXAMPLES", "1000")))
MAX_PEAK = 64 * 2**20  # the bases are a few kB; anything near this is a model built from hostile metadata
TOK = CharTokenizer(list("abcdefg"), lines=True)  # vocab 8
CONFIGS = {r: small_config(r, TOK.vocab_size, n_layer=1, dropout=0.1, order=2) for r in RUNGS}  # every rung
AVERAGED = AverageSettings(name="ema", decay=0.9, start=2)  # "<rung>+average" bases: an EMA of 3 steps
BASES = [*RUNGS, *(f"{r}+average" for r in RUNGS if rung_class(r).trainable)]


def _base(key: str, path) -> tuple[dict, dict]:
    rung, averaged = key.split("+")[0], key.endswith("+average")
    rngs = make_rngs(0)
    model = rung_class(rung)(CONFIGS[rung], rng=rngs["model"])
    opt = OptimSettings().build(model) if model.trainable else None
    if opt is not None:  # non-zero moments, like a real run
        for p in model.parameters():
            p.grad = np.ones_like(p.data)
        opt.step()
    else:  # a count model's checkpoint is written after its fit
        model.fit(np.random.default_rng(0).integers(0, TOK.vocab_size, 300))
    extra = {"best_val": 2.5}
    average = {n: p.data + 0.5 for n, p in model.named_parameters()} if averaged else None
    if averaged:
        extra["average"] = {**AVERAGED.record(), "count": 3}
    save_training_checkpoint(path, model, TOK, optimizer=opt, rngs=rngs, step=5, extra=extra, average=average)
    return load_checkpoint(path)


HOSTILE = st.sampled_from(
    [10**9, 10**18, 2**63, -1, 0, 1, 3, 7, 8, 9, True, None, "", "x", "gelu", "rmsnorm", 1.5, -0.5, float("nan"),
     float("inf"), [], {}, [1, 2], {"a": 1}, "float64", "float16", "int64", "object", "V8", "<U3"]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats() | st.text(max_size=6),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=5,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            yield from _paths(v, (*prefix, i))


def _mutate_meta(data, meta):
    paths = [p for p in _paths(meta) if p]
    path = data.draw(st.sampled_from(paths), label="meta path")
    *parents, last = path
    node = meta
    for k in parents:
        node = node[k]
    op = data.draw(st.sampled_from(["set", "set", "set", "json", "delete"]), label="op")
    event(f"meta {op}: {'.'.join(map(str, path[:2]))}")
    if op == "delete":
        del node[last]
    else:
        # a copy: HOSTILE's [] and {} are shared objects, and a later mutation may write into them
        node[last] = copy.deepcopy(data.draw(HOSTILE if op == "set" else JSON, label="value"))


def _mutate_arrays(data, arrays):
    name = data.draw(st.sampled_from(sorted(arrays)), label="array")
    op = data.draw(st.sampled_from(["drop", "add", "reshape", "retype", "grow"]), label="array op")
    event(f"array {op}: {name.split('.')[0]}")
    a = arrays[name]
    if op == "drop":
        del arrays[name]
    elif op == "add":
        arrays[data.draw(st.sampled_from([name + "x", "model.extra", "optim.exp_avg.extra"]))] = np.zeros(3, "f4")
    elif op == "reshape" and a.size:
        arrays[name] = a.reshape(-1) if a.ndim > 1 else a.reshape(1, -1)
    elif op == "retype":
        arrays[name] = a.astype(data.draw(st.sampled_from(["f8", "f2", "i8", "u1", "bool"])))
    else:
        arrays[name] = np.zeros(tuple(d + 1 for d in a.shape), a.dtype)


def _use(ck) -> None:
    """A checkpoint that loaded must work: a forward pass and one sampled token (the resume path is checked
    separately)."""
    idx = np.zeros((1, 3), dtype=np.int64)
    ck.model(idx)
    generate(ck.model, idx, 1, rng=np.random.default_rng(0))


def test_fuzz_metadata_and_arrays_through_the_training_loaders(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_training")
    bases = {k: _base(k, d / f"{k}.safetensors") for k in BASES}
    path = d / "mutated.safetensors"
    outcomes = Counter()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data(), key=st.sampled_from(sorted(BASES)))
    def fuzz(data, key):
        arrays, meta = copy.deepcopy(bases[key])
        for _ in range(data.draw(st.sampled_from([1, 1, 2, 3]), label="mutations")):
            if data.draw(st.booleans()) and arrays:
                _mutate_arrays(data, arrays)
            else:
                _mutate_meta(data, meta)
        try:
            save_checkpoint(path, arrays, meta)
        except CheckpointError:  # e.g. NaN keys json cannot hold: not a file anyone could hand us
            return
        tracemalloc.start()
        try:
            outcome = _load_and_resume(path, key)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < MAX_PEAK, f"{outcome}: {peak / 2**20:.0f} MiB allocated for a {key} of a few kB"
        outcomes[outcome] += 1
        event(outcome)

    start = time.perf_counter()
    fuzz()
    seconds = time.perf_counter() - start
    n = sum(outcomes.values())
    kinds = Counter(o.split(" — ")[0] for o in outcomes.elements())
    print(f"\ntraining-checkpoint fuzz: {n} checksum-valid mutated checkpoints in {seconds:.1f}s: {dict(kinds)}")
    for o, c in outcomes.most_common():
        print(f"  {c:4d}  {o}")
    assert n >= FUZZ_EXAMPLES * 0.95  # a few drawn metas cannot be saved at all (see above)
    assert kinds["refused"] > n / 4 and kinds["loaded and usable"] > n / 20
    assert len([o for o in outcomes if o.startswith("refused")]) >= 10  # many different checks, not one early exit


def _problem(e: Exception) -> str:
    text = str(e).split(".safetensors", 1)[-1].lstrip(": ").split(";")[0].split(" (")[0]
    text = re.sub(r"optim\.\S+", "optim.#", text)
    return re.sub(r"'[^']*'|\{[^}]*\}|-?\d[\d.e+]*", "#", text)[:70]


def _load_and_resume(path, key) -> str:
    try:
        ck = load_training_checkpoint(path)
    except CheckpointError as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return "refused — " + _problem(e)
    _use(ck)
    if not ck.model.trainable:  # a count model has nothing to resume
        return "loaded and usable"
    rngs, rung = make_rngs(1), key.split("+")[0]
    fresh = rung_class(rung)(CONFIGS[rung], rng=rngs["model"])
    average = WeightAverage(fresh, AVERAGED if key.endswith("+average") else None)
    try:
        restore(path, fresh, OptimSettings().build(fresh), rngs, World(), False, average)
    except (CheckpointError, TrainingError) as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return "resume refused — " + _problem(e)
    for g in rngs.values():  # restored generators draw
        g.random()
    return "loaded and usable"


def test_the_huge_model_example_is_refused_before_building(tmp_path):
    arrays, meta = _base("transformer", tmp_path / "g.safetensors")
    meta["model"]["config"]["n_embd"] = 10**9
    save_checkpoint(tmp_path / "huge.safetensors", arrays, meta)
    tracemalloc.start()
    try:
        load_training_checkpoint(tmp_path / "huge.safetensors")
    except CheckpointError as e:
        assert "describes a transformer model of at least 1.2e+19 parameters but the file holds" in str(e)
    else:
        raise AssertionError("a 10**9-wide GPT was built")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 2**20
    json.dumps(meta)  # (the metadata itself was an ordinary, valid JSON document)
