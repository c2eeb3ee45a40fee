"""Declarations, their actions, attachments and dossiers through the API."""

from . import bp, spec  # noqa: F401
