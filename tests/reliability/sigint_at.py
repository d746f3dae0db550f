"""Run an entry point as its command line would, with a real SIGINT (as Ctrl-C sends) raised at one moment of its
start-up, before the handler of its body is in place:

    python tests/reliability/sigint_at.py MOMENT stages/train.py rung=mlp key=value ...
    python tests/reliability/sigint_at.py MOMENT -m lmladder sample ...

import:NAME   as the program first imports module NAME (import:hydra, import:lmladder.app.policy, import:numpy)
compose       as Hydra composes the stage's config (after its imports, before the stage's body)
"""

import os
import runpy
import signal
import sys

MOMENT, *ARGV = sys.argv[1:]


class SigintOnImport:
    """A finder asked first for every module: at `name`, SIGINT arrives; Python raises KeyboardInterrupt right there,
    inside the import statement that asked for it."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            sys.meta_path.remove(self)
            signal.raise_signal(signal.SIGINT)
        return None


if MOMENT.startswith("import:"):
    sys.meta_path.insert(0, SigintOnImport(MOMENT.split(":", 1)[1]))
elif MOMENT == "compose":
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    real_load = ConfigLoaderImpl.load_configuration

    def load_configuration(*a, **k):
        signal.raise_signal(signal.SIGINT)
        return real_load(*a, **k)

    ConfigLoaderImpl.load_configuration = load_configuration
else:
    sys.exit(f"sigint_at.py: unknown moment {MOMENT!r}")

signal.signal(signal.SIGINT, signal.default_int_handler)  # as a program started from a terminal has it
if ARGV[0] == "-m":
    sys.argv = [ARGV[1], *ARGV[2:]]
    runpy.run_module(ARGV[1], run_name="__main__", alter_sys=True)
else:
    sys.argv = ARGV
    sys.path.insert(0, os.path.dirname(os.path.abspath(ARGV[0])))
    runpy.run_path(ARGV[0], run_name="__main__")
