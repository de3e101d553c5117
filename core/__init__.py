"""The lowest layer: what every app may share and that knows no app (the
durable-job base and the registry of job kinds)."""
