"""WTForms classes. Forms validate and convert; they never change the database."""

from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms.meta import DefaultMeta


class BaseForm(FlaskForm):
    """Every form: CSRF-protected, WTForms' own messages in Chinese."""

    class Meta:
        locales = ["zh"]

        def get_translations(self, form):
            # Flask-WTF hands translation to Flask-Babel, which this app does not use, and
            # would then fall back to English; WTForms' own catalogue honours ``locales``.
            return DefaultMeta.get_translations(self, form)

        def wrap_formdata(self, form, formdata):
            # PostgreSQL stores no NUL character in text; one pasted into a field would make the
            # save fail. It means nothing in a Chinese form, so it is dropped, the rest kept.
            data = FlaskForm.Meta.wrap_formdata(self, form, formdata)
            if data is None:
                return None
            text = MultiDict(
                (key, value.replace("\x00", "") if isinstance(value, str) else value)
                for key, value in data.items(multi=True)
                if not hasattr(value, "stream")
            )
            files = [(k, v) for k, v in data.items(multi=True) if hasattr(v, "stream")]
            return CombinedMultiDict((MultiDict(files), text)) if files else text

    def cleaned(self, *names: str) -> dict:
        """The converted values of the named fields (all data fields when none are named)."""
        skip = {"csrf_token", "version", "submit"}
        return {
            name: field.data
            for name, field in self._fields.items()
            if (name in names if names else name not in skip)
        }
