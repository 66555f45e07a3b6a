"""The package's version, recorded in every model's meta.json and in exported spaCy pipelines."""

__version__ = "0.1.0"  # the same as pyproject.toml's (tests/test_cli_help.py checks it against the installed metadata)
