# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
# bytecode, as a non-editable pip install writes it: a cron `digest run` reads it
# instead of compiling every module it imports at each start (issue 14)
	$(BIN)/python -m compileall -q digest
	touch $(STAMP)

install: $(STAMP)

# Poll the captured feeds, then build and deliver the World news edition of the
# morning after they were captured, into outbox/.
demo: $(STAMP)
	$(BIN)/digest run --at 2026-02-18T07:00:00Z

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf var outbox
