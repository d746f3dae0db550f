"""`hydra/launcher=joblib_2` (conf/hydra/launcher/joblib_2.yaml): hydra-joblib-launcher's sweep, with each job in
a worker process of its own, so that a killed job fails alone (lmladder/app/launch.py). Hydra finds launchers only
in the hydra_plugins package; the work is done in lmladder, imported when a sweep launches."""

from __future__ import annotations

from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher


class ResilientJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides, initial_job_idx):
        from lmladder.app.launch import launch_isolated

        return launch_isolated(self, job_overrides, initial_job_idx)
