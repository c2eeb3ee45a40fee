"""Requesting a dossier."""

from wtforms import HiddenField

from . import BaseForm


class DossierRequestForm(BaseForm):
    """A button: make the dossier of the declaration's current data."""

    version = HiddenField()
