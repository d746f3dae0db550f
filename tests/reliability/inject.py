"""Run a stage script as `python stages/<x>.py overrides...` would, with a fault planted at a precise moment:

    python tests/reliability/inject.py MODE ARG stages/train.py rung=transformer key=value ...

kill-checkpoint-write N   SIGKILL with half of the N-th model.safetensors write on disk (in its temporary file)
kill-checkpoint-rename N  SIGKILL after the N-th model.safetensors temporary is complete, before its rename
kill-eval N               SIGKILL in the middle of the N-th evaluation of the training loop
kill-scoring N            SIGKILL in the N-th exact scoring of a split (after training)
kill-step N               SIGKILL inside the N-th training step after this launch: gradients computed, not yet applied
fail-replace ERRNO:NAME   every rename onto a file called NAME fails with OSError(ERRNO), e.g. 13:model.safetensors
edit-corpus FILE          a corpus file of any size is prepared streaming; FILE gets a line more right after pass 1

Random-moment kills come from outside (the test's timer); these are the moments a timer rarely hits.
"""

import contextlib
import os
import runpy
import signal
import sys

MODE, ARG, STAGE, *OVERRIDES = sys.argv[1:]
count = {"n": 0}


def die(where: str) -> None:
    print(f"[inject] SIGKILL {where}", flush=True)
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def nth() -> bool:
    count["n"] += 1
    return count["n"] == int(ARG)


if MODE == "kill-checkpoint-write":
    import lmladder.io.checkpoint as ckpt

    real_writer = ckpt.atomic_writer

    @contextlib.contextmanager
    def writer(path, mode="wb"):
        with real_writer(path, mode) as f:
            if not (str(path).endswith("model.safetensors") and nth()):
                yield f
                return

            class Half:  # the data arrive in several writes: die half-way through the first big one
                def write(self, b):
                    if len(b) < 64:
                        return f.write(b)
                    f.write(b[: len(b) // 2])
                    f.flush()
                    die(f"half-way through writing {path}")

            yield Half()

    ckpt.atomic_writer = writer
elif MODE == "kill-checkpoint-rename":
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith("model.safetensors") and nth():
            die(f"before renaming the complete temporary onto {dst}")
        return real_replace(src, dst, *a, **k)

    os.replace = replace
elif MODE == "kill-eval":
    import lmladder.training.loop as loop

    real_estimate = loop.estimate_loss

    def estimate_loss(model, batches, *a, **k):
        if nth():
            batches = iter(batches)
            next(batches), next(batches)  # some of the evaluation's batches are drawn, then the process dies
            die("in the middle of an evaluation")
        return real_estimate(model, batches, *a, **k)

    loop.estimate_loss = estimate_loss
elif MODE == "kill-scoring":
    import lmladder.inference.scoring as scoring

    real_score = scoring.score_tokens

    def score_tokens(*a, **k):
        if nth():
            die("during the exact scoring after training")
        return real_score(*a, **k)

    scoring.score_tokens = score_tokens
elif MODE == "kill-step":
    from lmladder.training.loop import Trainer

    real_gradients = Trainer._gradients

    def _gradients(self, *a, **k):  # the loop's own steps only: memory probes (training/budget.py) don't count
        out = real_gradients(self, *a, **k)
        if nth():
            die("inside a training step, after backward and before the optimizer update")
        return out

    Trainer._gradients = _gradients
elif MODE == "fail-replace":
    code, name = ARG.split(":", 1)
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if os.path.basename(str(dst)) == name:
            raise OSError(int(code), os.strerror(int(code)))
        return real_replace(src, dst, *a, **k)

    os.replace = failing_replace
elif MODE == "edit-corpus":
    import lmladder.data.store as store
    import lmladder.data.streaming as streaming
    import lmladder.data.streaming_lines as streaming_lines

    store.STREAM_FROM = 0  # the sandbox's corpora are small: stream them anyway
    real_scan = streaming.scan

    def scan(*a, **k):
        out = real_scan(*a, **k)
        with open(ARG, "a", encoding="utf-8") as f:  # another program saves the corpus between prepare's passes
            f.write("zoe\n")
        return out

    streaming.scan = streaming_lines.scan = scan
else:
    sys.exit(f"inject.py: unknown mode {MODE!r}")

sys.argv = [STAGE, *OVERRIDES]
sys.path.insert(0, os.path.dirname(os.path.abspath(STAGE)))
runpy.run_path(STAGE, run_name="__main__")
