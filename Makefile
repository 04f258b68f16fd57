# Lineside — two commands: `make demo` and `make test`. Both build their own virtualenv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: venv test lint bench demo soak clean check-mosquitto

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

check-mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || command -v /usr/sbin/mosquitto >/dev/null 2>&1 || { \
	  echo "mosquitto is not installed; the uplink tests need a real broker."; \
	  echo "Install it with:  sudo apt-get install -y mosquitto   (Debian/Raspberry Pi OS)"; exit 1; }

test: venv check-mosquitto
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check edge sync tests bench
	$(VENV)/bin/ruff format --check edge sync tests bench
	$(VENV)/bin/mypy

bench: venv
	$(PY) bench/run.py

DEMO_SECONDS ?= 20
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto)
demo: venv check-mosquitto
	@echo "== Lineside demo: simulated line (OPC UA, Modbus TCP/RTU, EtherNet/IP) -> agent -> MQTT -> aggregator"
	@set -e; L=$(VENV)/bin/lineside; \
	  $(MOSQUITTO) -c config/mosquitto/demo.conf & broker=$$!; \
	  $$L simulate -c config/line1.yaml & sim=$$!; \
	  $$L aggregator run -c config/aggregator.yaml & agg=$$!; \
	  trap 'kill $$agent $$sim $$agg $$broker 2>/dev/null || true; wait $$agent $$sim $$agg $$broker 2>/dev/null || true' EXIT INT TERM; \
	  sleep 3; \
	  $$L aggregator order add -c config/aggregator.yaml --line line1 --order WO-DEMO-$$$$ --product COLA-500 --quantity 500; \
	  $$L run -c config/line1.yaml & agent=$$!; \
	  sleep $(DEMO_SECONDS); \
	  $$L status -c config/line1.yaml; \
	  echo; echo "Recorded fill weights (last 5):"; \
	  $$L history -c config/line1.yaml --tag filler.fill_weight --since=-1m | tail -5; \
	  echo; $$L kpi -c config/line1.yaml --since=-$(DEMO_SECONDS)s; \
	  kill -TERM $$agent; wait $$agent; sleep 1; \
	  echo; echo "== plant view (aggregator)"; \
	  $$L aggregator status -c config/aggregator.yaml; \
	  echo; $$L aggregator report -c config/aggregator.yaml; \
	  echo; $$L aggregator commands -c config/aggregator.yaml | tail -3

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
