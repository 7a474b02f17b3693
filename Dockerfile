# Multi-stage build: wheels are built in the first stage, the runtime image carries
# only the virtualenv and the code, runs as an unprivileged user and serves collected
# static files through WhiteNoise.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=shotspotter.settings
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 make \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system app && useradd --system --gid app --home /app app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . /app
# The Makefile's install step is already done by this image.
RUN touch /opt/venv/.installed \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/media && chown -R app:app /app/staticfiles /app/media
USER app
EXPOSE 8000
CMD ["make", "web", "VENV=/opt/venv", "HOST=0.0.0.0"]
