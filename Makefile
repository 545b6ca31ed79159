# Two commands for a newcomer: `make run` (demo server) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ENV := DJANGO_DEBUG=true CLINIC_REQUIRE_2FA=false

.PHONY: install locale run test lint clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Crossroad needs Python 3.11")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

install: $(BIN)/activate locale

# Italian (and any later) translations, compiled without needing GNU gettext installed.
locale: $(BIN)/activate
	$(BIN)/python -c 'import pathlib, polib; [polib.pofile(str(p)).save_as_mofile(str(p.with_suffix(".mo"))) for p in pathlib.Path("locale").glob("*/LC_MESSAGES/*.po")]'

run: install
	mkdir -p var/broker var/broker-processed var/broker-control
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEMO_ENV) PUBLIC_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py seed_demo
	$(DEMO_ENV) $(BIN)/python manage.py webpush_keys --verbosity 0 >/dev/null
	$(DEMO_ENV) $(BIN)/python manage.py collectstatic --no-input --verbosity 0
	@echo
	@echo "Crossroad demo on http://$(HOST):$(PORT)/"
	@echo "  patient app  http://$(HOST):$(PORT)/app/   (patients rosa, alan, grace; caregiver marco; password crossroad-demo)"
	@echo "  health       http://$(HOST):$(PORT)/healthz"
	@echo "  API docs     http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  catalog      http://$(HOST):$(PORT)/api/v1/catalog/"
	@echo "  admin        http://$(HOST):$(PORT)/admin/"
	@echo "  clinic       http://$(HOST):$(PORT)/clinic/  (dr-demo and nurse-demo: second step with the TOTP key"
	@echo "               CROSSROADDEMOKEYFORTOTP234567ABC in an authenticator app, or"
	@echo "               '$(DEMO_ENV) $(BIN)/python manage.py demo_totp_code' prints the current code)"
	@echo "  Celery: a real worker with beat on the file-system broker in var/broker (log: var/celery.log)"
	@echo
	$(DEMO_ENV) $(BIN)/celery -A backend worker --beat --pool=solo --loglevel=info \
		--schedule=var/celerybeat-schedule >var/celery.log 2>&1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(DEMO_ENV) $(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DEMO_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var db.sqlite3

# Benchmarks (bench/, figures in docs/performance.md). Each creates its own PostgreSQL
# database on 127.0.0.1:5432 (and uses Redis database 15), prints both measurements and
# their ratio, and drops what it created. Options go in BENCH_ARGS, e.g.
# `make bench-ingest BENCH_ARGS="--workers 3 --rounds 3"`; `--help` lists them.
# `make bench-smoke` runs all four at a tiny size (CI does, after the tests).
.PHONY: bench-smoke bench-ingest bench-evaluate bench-triage bench-alert-rate bench-bulk-export

bench-smoke: install
	$(BIN)/python bench/smoke.py $(BENCH_ARGS)

bench-ingest: install
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

bench-evaluate: install
	$(BIN)/python bench/evaluate.py $(BENCH_ARGS)

bench-triage: install
	$(BIN)/python bench/triage.py $(BENCH_ARGS)

bench-alert-rate: install
	$(BIN)/python bench/alert_rate.py $(BENCH_ARGS)

bench-bulk-export: install
	$(BIN)/python bench/bulk_export.py $(BENCH_ARGS)
# Soak (bench/soak.py, figures in docs/capacity.md): the production stack (gunicorn, Celery
# worker and beat, a private redis-server on a free port) on a fresh PostgreSQL database
# `crossroad_soak`, a Locust morning peak and scripted chaos, then a reconciliation of
# every record; exits 1 when a check fails. Output in var/soak/<time>/. Options go in
# SOAK_ARGS, e.g. `make soak SOAK_ARGS="--patients 20000 --minutes 5"`; `--help` lists
# them. The full run restarts the machine's PostgreSQL (chaos step pg_restart): on a
# shared machine, say so first or pass --chaos without it. `make soak-smoke` is CI's:
# 300 patients, one minute, the Celery worker SIGKILLed once.
.PHONY: soak soak-smoke bench-deps

bench-deps: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'

soak: bench-deps
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

soak-smoke: bench-deps
	$(BIN)/python bench/soak.py --smoke --database crossroad_soak_smoke $(SOAK_ARGS)
