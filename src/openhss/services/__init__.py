"""Use cases. The API, the worker and the CLI all call these; none of them talks to the DB directly."""
