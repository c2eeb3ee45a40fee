"""Projects (项目库) through the API."""

from . import bp, spec  # noqa: F401
