"""Fixtures for the data tests (defined in corpora.py so the model tests can import them too)."""

from .corpora import names_prepared_fixture, shakespeare_prepared_fixture  # noqa: F401
