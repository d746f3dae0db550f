"""The optimizer and training settings have the shape of the code (issue 71): each feature's settings one block under
its owner, few fields at the top, no "X only" comment; a setting the chosen optimizer, schedule, average or teacher
does not read is refused in one line (rules.check_used, issue 70 class 8); every old flat key fails naming its new
one (config.RENAMED), in a rung's block and on the command line."""

import io
import re
import tokenize
from dataclasses import fields
from pathlib import Path

import pytest

import lmladder
from lmladder.config import RENAMED, ConfigError, check_overrides, merge, rung_settings
from lmladder.nn.muon import Muon, MuonSettings
from lmladder.nn.optim import AdamSettings, SGDSettings
from lmladder.nn.schedules import ScheduleSettings, StepSettings, WsdSettings
from lmladder.rules import SettingsError
from lmladder.training import OptimSettings, TrainSettings
from lmladder.training.average import AverageSettings
from lmladder.training.settings import rung_schema
from lmladder.training.teacher import TeacherSettings

SRC = Path(lmladder.__file__).parent
MINE = sorted(SRC.rglob("*.py"))  # every module: a setting added anywhere gets its own block, not an "X only" note
X_ONLY = re.compile(r"(^|\()\s*[A-Za-z][\w .'-]{0,40}\bonly\b\s*($|[:),])")  # "muon only", "(step schedule only)"


def test_few_fields_at_the_top():
    assert len(fields(OptimSettings)) <= 12, [f.name for f in fields(OptimSettings)]
    assert len(fields(TrainSettings)) <= 16, [f.name for f in fields(TrainSettings)]


@pytest.mark.parametrize("path", MINE, ids=lambda p: str(p.relative_to(SRC)))
def test_no_setting_is_told_apart_by_an_x_only_comment(path):
    comments = [
        t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline) if t.type == tokenize.COMMENT
    ]
    assert not [f"{path.name}:{t.start[0]}: {t.string}" for t in comments if X_ONLY.search(t.string[1:])]


def test_the_x_only_pattern_finds_what_the_flat_settings_had():
    for said in (
        " muon only",
        " wsd only: linear | sqrt",
        " step schedule only",
        " muon only, the options",
        " sgd only",
    ):
        assert X_ONLY.search(said), said
    assert not X_ONLY.search(" decay only where the update and the weight agree in sign")


def test_muon_states_its_options_once():
    """Muon's group options are MuonSettings' (hyper()), whose defaults are the optimizer's own."""
    assert {k: Muon.defaults[k] for k in MuonSettings().hyper()} == MuonSettings().hyper()


@pytest.mark.parametrize(
    "settings, message",
    [
        # issue 70 class 8: Muon's options under AdamW, the cooldown under a cosine schedule
        (OptimSettings(muon=MuonSettings(ns_coeffs="polar_express")),
         "muon.ns_coeffs='polar_express' is read with name=muon only, and name='adamw': it would change nothing; "
         "set name=muon, or leave it at its default ('jordan')"),
        (OptimSettings(schedule=ScheduleSettings(wsd=WsdSettings(cooldown_frac=0.4, cooldown_shape="sqrt"))),
         "wsd.cooldown_frac=0.4 is read with name=wsd only, and name='cosine'"),
        (OptimSettings(schedule=ScheduleSettings(name="constant", warmup_iters=100, min_lr=5e-4)),
         "warmup_iters=100, min_lr=0.0005 are read with name=linear, cosine or wsd only, and name='constant': they "
         "would change nothing; set name=linear, cosine or wsd, or leave them at their defaults (0, 0.0)"),
        (OptimSettings(schedule=ScheduleSettings(step=StepSettings(size=10))),
         "step.size=10 is read with name=step only, and name='cosine'"),
        (OptimSettings(sgd=SGDSettings(momentum=0.5)), "sgd.momentum=0.5 is read with name=sgd only"),
        (OptimSettings(name="sgd", adam=AdamSettings(eps=1e-6)),
         "adam.eps=1e-06 is read with name=adamw, adam or muon only, and name='sgd'"),
        (TrainSettings(average=AverageSettings(warmup=True)),
         "warmup=True is read with name=ema only, and name='none'"),
        (TrainSettings(average=AverageSettings(name="swa", decay=0.99)), "decay=0.99 is read with name=ema only"),
        (TrainSettings(average=AverageSettings(start=5)), "start=5 is read with name=ema or swa only"),
        (TrainSettings(teacher=TeacherSettings(weight=0.3)),
         "weight=0.3 is read with order=1..10 only, and order=0: it would change nothing; set order=1..10, or leave "
         "it at its default (0.1)"),
    ],
)  # fmt: skip
def test_a_setting_the_choice_does_not_read_is_refused(settings, message):
    with pytest.raises(SettingsError) as e:
        settings.check()
    assert str(e.value).startswith(message), str(e.value)


def test_what_the_choice_reads_is_taken():
    OptimSettings(name="muon", muon=MuonSettings(ns_coeffs="polar_express", split_qkv=True)).check()
    OptimSettings(schedule=ScheduleSettings(name="wsd", wsd=WsdSettings(cooldown_frac=0.4))).check()
    OptimSettings(name="sgd", sgd=SGDSettings(momentum=0.5), schedule=ScheduleSettings(name="step")).check()
    TrainSettings(average=AverageSettings(name="ema", decay=0.99, warmup=True, start=5)).check()
    TrainSettings(teacher=TeacherSettings(order=3)).check()  # the teacher's weight has a default


def test_the_config_says_the_refusal_in_its_keys():
    cfg = {"mlp": {"optim": {"schedule": {"wsd": {"cooldown_frac": 0.4}}}}}
    with pytest.raises(ConfigError, match=r"^mlp.optim.schedule.wsd.cooldown_frac=0.4 is read with "
                       r"mlp.optim.schedule.name=wsd only, and mlp.optim.schedule.name='cosine'"):  # fmt: skip
        rung_settings(cfg, "mlp", rung_schema(lmladder.models.rung_class("mlp")))


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_every_renamed_key_fails_in_one_line_naming_its_new_one(old):
    new = RENAMED[old][0]
    part, key = old.split(".", 1)
    value = "wsd" if old == "optim.schedule" else 1
    with pytest.raises(ConfigError) as e:
        rung_settings({"rnn": {part: {key: value}}}, "rnn", rung_schema(lmladder.models.rung_class("rnn")))
    assert str(e.value).startswith(f"rnn.{old} is now rnn.{new} (") and "\n" not in str(e.value)
    with pytest.raises(ConfigError) as e:  # on the command line, before Hydra composes it
        check_overrides([f"+rnn.{old}={value}"])
    assert str(e.value).startswith(f"rnn.{old} is now rnn.{new} (")


def test_every_new_key_is_a_setting():
    """Each RENAMED key's new name is a field of the settings (so its message sends nobody to a key that fails)."""
    for old, (new, _) in RENAMED.items():
        part, *path = new.split("=")[0].split(".")
        node = {"train": TrainSettings(), "optim": OptimSettings()}[part]
        for name in path:
            assert name in {f.name for f in fields(node)}, (old, new)
            node = getattr(node, name)


def test_a_block_named_like_an_old_key_is_the_new_key():
    check_overrides(["transformer.optim.schedule.name=wsd", "~transformer.optim.schedule", "mlp.optim.lr=0.1"])
    s = merge(OptimSettings, {"schedule": {"name": "wsd"}})
    assert s.schedule.name == "wsd"
