"""WTForms classes. Forms validate and convert; they never change the database."""

from flask_wtf import FlaskForm
from wtforms.meta import DefaultMeta


class BaseForm(FlaskForm):
    """Every form: CSRF-protected, WTForms' own messages in Chinese."""

    class Meta:
        locales = ["zh"]

        def get_translations(self, form):
            # Flask-WTF hands translation to Flask-Babel, which this app does not use, and
            # would then fall back to English; WTForms' own catalogue honours ``locales``.
            return DefaultMeta.get_translations(self, form)

    def cleaned(self, *names: str) -> dict:
        """The converted values of the named fields (all data fields when none are named)."""
        skip = {"csrf_token", "version", "submit"}
        return {
            name: field.data
            for name, field in self._fields.items()
            if (name in names if names else name not in skip)
        }
