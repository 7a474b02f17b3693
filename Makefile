# Quick start: `make run` (the whole system, embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate demo worker beat web bench bench-quick bench-pipeline bench-alerts bench-realtime clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Embedded mode: SQLite, in-memory channel layer, Celery tasks in-process, console e-mail.
run: export DEBUG ?= 1
# Links in e-mails and CAP documents point at this server (`make run PORT=8765` linked to
# port 8000); a SITE_URL set in the environment wins. A server listening on every
# interface (HOST=0.0.0.0) is linked as 127.0.0.1.
run: export SITE_URL ?= http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
# The city simulator drives virtual sensors through the real signed API, so incidents
# arrive in the review queue; it waits for the server and stops with it. Its agents trust
# the development server key (.dev/, made on first use) and talk plain http to this
# development server, which their configuration allows only when told so.
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py simulate --server http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT) \
		--wait 120 --allow-insecure-http --replay-chicago $(SHARED_DATA)/chicago-audio & \
	trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=shotspotter.settings_test $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

demo: $(VENV)/.installed
	$(PY) manage.py seed_demo

# Production-style processes (set DATABASE_URL, REDIS_URL, SECRET_KEY, ...; see .env.example).
web: $(VENV)/.installed
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) shotspotter.asgi:application

# Below the web server's CPU priority: on a shared host, analysis must never starve the
# acknowledgement of sensor data (sensors resend, but only after a back-off).
WORKER_NICE ?= 10
worker: $(VENV)/.installed
	nice -n $(WORKER_NICE) $(VENV)/bin/celery -A shotspotter worker --loglevel=INFO --concurrency=2

beat: $(VENV)/.installed
	$(VENV)/bin/celery -A shotspotter beat --loglevel=INFO --schedule=/tmp/shotspotter-celerybeat

bench: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py bench_acoustics --data $(SHARED_DATA)/pittsburgh-live-fire
	$(MAKE) bench-pipeline
	$(MAKE) bench-alerts
	$(MAKE) bench-realtime

# Publish to e-mail accepted by a local SMTP server and to a webhook received, 500 recipients.
bench-alerts: $(VENV)/.installed
	DJANGO_SETTINGS_MODULE=shotspotter.settings_test $(PY) manage.py bench_alerts --recipients 500

bench-quick: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py bench_acoustics --data $(SHARED_DATA)/pittsburgh-live-fire --quick

# Ingest and shot-to-review-queue latency with PostgreSQL, Redis, daphne and one Celery
# worker (closed loop, then 2,000 pulses/s offered the way agents send them). Creates (and
# drops) its own database bench_pipeline on that server.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/0
bench-pipeline: $(VENV)/.installed
	DEBUG=1 DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py bench_pipeline
	DEBUG=1 DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py bench_pipeline \
		--skip-latency --rate-per-sensor 10 --seconds 60

# One incident published by the review services reaching 500 portal websockets (two daphne,
# Redis channel layer); own database bench_realtime and Redis db 14, both emptied after.
bench-realtime: $(VENV)/.installed
	DEBUG=1 DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py bench_realtime --clients 500
	DEBUG=1 DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py bench_realtime --clients 500 --conn-max-age 60

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
