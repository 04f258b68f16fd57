# Lineside — two commands: `make demo` and `make test`. Both build their own virtualenv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: venv test lint bench demo demo-headless soak clean check-mosquitto check-chromium node-opcua

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

# The OPC UA driver tests also run against node-opcua (a server of another implementation
# than asyncua): installed from the npm registry into a cache outside the repository, once,
# when node and npm are there (the tests skip with the reason when node is missing).
node-opcua:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	  $(PY) -c "from tests.edge.drivers.node_opcua import cache_dir, install; install(cache_dir())" \
	    || echo "node-opcua could not be installed now: its tests will try again"; \
	else echo "node/npm not installed: the node-opcua driver tests will be skipped"; fi

check-chromium:
	@command -v chromium >/dev/null 2>&1 || test -x "$${LINESIDE_CHROMIUM:-/usr/bin/chromium}" || { \
	  echo "chromium is not installed; the browser tests of the plant web view drive the system Chromium."; \
	  echo "Install it with:  sudo apt-get install -y chromium   (Debian/Raspberry Pi OS)"; exit 1; }

# Two workers: much of the suite waits on real servers and processes; the tests on the
# example config's fixed ports share one worker (tests/conftest.py). PYTEST_WORKERS= runs serially.
PYTEST_WORKERS ?= -n 2 --dist loadgroup
test: venv check-mosquitto check-chromium node-opcua
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check edge sync tests bench
	$(VENV)/bin/ruff format --check edge sync tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: venv
	$(PY) bench/run.py

# The whole pipeline with the operator terminal in front (quit with F10; log in with PIN
# 2222). Uses the system mosquitto when installed, else an embedded broker (amqtt).
demo: venv
	$(VENV)/bin/lineside demo

DEMO_SECONDS ?= 30
demo-headless: venv
	$(VENV)/bin/lineside demo --headless --duration $(DEMO_SECONDS)

SOAK_SECONDS ?= 600
soak: venv check-mosquitto
	$(PY) -m tests.soak --duration $(SOAK_SECONDS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
