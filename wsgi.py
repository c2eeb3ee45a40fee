"""The one module that builds an app at import time: ``flask --app wsgi``, gunicorn ``wsgi:app``."""

from workflow import create_app

app = create_app()
