# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps lint typecheck pytest docs bench bench-soak bench-freshness bench-load clean
.PHONY: dashboards rules

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/agora-exporter --demo

# Debian's prometheus (promtool and a real Prometheus) and curl: installed when
# missing and running as root, otherwise a clear message and exit 2.
system-deps:
	sh tools/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check exporter tests tools bench deploy/docker
	$(BIN)/ruff format --check exporter tests tools bench deploy/docker

typecheck: $(STAMP)
	$(BIN)/mypy --strict exporter
	$(BIN)/mypy --strict --explicit-package-bases bench
	$(BIN)/mypy --strict tools

pytest: $(STAMP) system-deps
	$(BIN)/pytest

test: system-deps lint typecheck pytest

docs: $(STAMP)
	$(BIN)/python tools/update_readme.py

# The alert rules, the PrometheusRule, the Grafana dashboards and their ConfigMaps, all
# generated from exporter/catalog/ (python -m tools.dashboards --help: job selector,
# runbook URL base, output root).
dashboards: $(STAMP)
	$(BIN)/python -m tools.dashboards

# The alert rules and their unit tests (pytest runs these too).
rules:
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/tests/*.yml

# 22,010 series: /metrics beside nginx on the same bytes, memory, --demo start-up (~7 min).
# Needs Debian's wrk and nginx (apt-get install -y wrk nginx-light); make test does not.
bench: $(STAMP)
	$(BIN)/python -m bench.scale

# A week in simulated time against the simulator: memory, state file, quota, refusals (~11 min).
bench-soak: $(STAMP)
	$(BIN)/python -m bench.soak --days 7

# 25 simulated hours, three times (equal weights; defaults; defaults with WebRTC idle): how late
# the shipped freeze and join alerts fire after an incident, through promtool (~2.5 min). The
# day's spend is read over the last 24 h: the first hour holds the start's catch-up.
bench-freshness: $(STAMP)
	$(BIN)/python -m bench.freshness

# 200 scrapers on /metrics for 60 s while polls run, plain HTTP then TLS + basic auth.
bench-load: $(STAMP)
	$(BIN)/python -m bench.load --scrapers 200 --duration 60
	$(BIN)/python -m bench.load --scrapers 200 --duration 60 --tls

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
