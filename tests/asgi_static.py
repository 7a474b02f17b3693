"""The project's ASGI application plus static files, for the browser tests' daphne."""

from shotspotter.asgi import application as project_application  # noqa: I001

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

application = ASGIStaticFilesHandler(project_application)
