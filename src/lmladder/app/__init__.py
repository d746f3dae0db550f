"""What the entry points share (the stage scripts of stages/ and their sweeps), kept in the package so it can be
imported and tested like the library: where a run writes (DVC's fixed paths or Hydra's job folder) and how it is
made into a training Run (stage.py), the one-line error policy (policy.py), what runs before Hydra, MPI start-up
included (startup.py), and the glue of sweeps (sweeps.py). The library below never imports it."""
