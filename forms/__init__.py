"""WTForms classes. Forms validate and convert; they never change the database."""

from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """Every form: CSRF-protected, WTForms' own messages in Chinese."""

    class Meta:
        locales = ["zh"]

    def cleaned(self, *names: str) -> dict:
        """The converted values of the named fields (all data fields when none are named)."""
        skip = {"csrf_token", "version", "submit"}
        return {
            name: field.data
            for name, field in self._fields.items()
            if (name in names if names else name not in skip)
        }
