# Every target sets up what it needs, so a fresh Debian or Ubuntu machine
# with Python 3.11+ runs `make run` or `make test` and nothing else.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-installed

.PHONY: run test bench docs system-deps clean

run: $(STAMP)
	$(PY) -m dashboard run

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m dashboard bench --scale small

docs: $(STAMP)
	$(PY) -m dashboard docs

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# Browser tests drive Debian's Chromium; without a CJK font Chinese renders
# as empty boxes in screenshots.
system-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|wqy'; then \
		echo "installing chromium and fonts-wqy-microhei"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
