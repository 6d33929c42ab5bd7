"""Drivers of the scenarios that wait for a part polygate does not have yet (scenarios.PENDING).

A driver is a module here named after its scenario (`soap.py`, `mqtt.py`, `ws_stream.py`,
`ws_idle.py`) with one function, `run(settings: Settings) -> list[str]`, that starts what the
scenario needs (a backend, polygate with a config that uses the new part, the direct call and any
peer), measures as `runner.ScenarioRun` does, and returns the scenario's Markdown section. The
harness calls it once `polygate check` accepts the part's config key and the module exists."""
