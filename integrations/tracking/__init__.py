"""Experiment tracking: training runs and loop rounds in MLflow and W&B.

- ``backends``: one small adapter per tracker (MLflow, W&B) behind one
  interface, in a registry keyed by name; the tracker libraries are imported
  only when a run is tracked (the web tier never needs them).
- ``runs``: the observer that training.observers hands every run to (params
  at the start, each logged point, then the final evaluation, the snapshot as
  dataset input and the model folder), recording each tracker's run id,
  location and last error in ``TrackedRun``.
- ``rounds``: a finished loop round becomes a tracked run of its own, linking
  its reward and DPO runs.

A tracker never fails what it tracks: its first error is stored on the
``TrackedRun`` row (shown on the training page) and that tracker is dropped
for the rest of the attempt.
"""
