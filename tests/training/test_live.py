"""The run's live log (training/live.py) as DVCLive writes it."""

import json

from dvclive import Live

from lmladder.training.live import TRAIN_LOSS, LiveLog


def test_a_sync_collects_nothing_for_dvc_studio_when_none_is_configured(tmp_path, monkeypatch):
    """DVCLive's next_step() rereads params.yaml and every row logged so far for DVC Studio and, with no Studio
    configured, drops it unsent; the run's Live skips that, and still writes metrics.json at each sync."""
    for var in ("DVC_STUDIO_TOKEN", "STUDIO_TOKEN", "DVC_STUDIO_URL", "DVC_STUDIO_REPO_URL", "DVC_STUDIO_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    collected = []
    real = Live._get_live_data
    monkeypatch.setattr(Live, "_get_live_data", lambda live: collected.append(live.step) or real(live))
    log = LiveLog(tmp_path / "live", {"lr": 0.1})
    log.open()
    log.log(7, {TRAIN_LOSS: 2.5})
    log.next_step()  # the first always syncs
    assert json.loads((tmp_path / "live" / "metrics.json").read_text())["train"]["loss"] == 2.5
    assert collected == []
    log.close()
    assert (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()[1:] == ["7\t2.5"]
