# Koprik: two set-up commands, `make serve` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_RECORDS ?= 3000
# pytest processes for `make test`: one more than the cores (CI has two), as many tests spend
# part of their time waiting on a server, a peer or a timeout, leaving their core to the next
# (two cores, one run each: 1,042 s with 2 processes, 791 s with 3). A test file runs whole in
# one process, so the servers a file starts once are started once.
TEST_PROCESSES ?= $(shell echo $$(( $$(nproc) + 1 )))
DEBIAN_TEST_PACKAGES := yaz idzebra-2.0 idzebra-2.0-examples libhttp-oai-perl xsltproc \
                        postgresql chromium nginx-light libmarc-lint-perl
DEBIAN_TEST_COMMANDS := yaz-client yaz-ztest zebrasrv yaz-marcdump xsltproc oai_pmh chromium \
                        /usr/lib/postgresql/15/bin/initdb /usr/sbin/nginx \
                        /usr/share/doc/idzebra-2.0/examples/marcxml/MARC21slim2MODS3-7.xsl.gz \
                        /usr/share/perl5/MARC/Lint.pm

.PHONY: serve test install install-test system-packages lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python system-packages
	$(BIN)/pip install --quiet -e '.[test]'

system-packages:
	@sh scripts/system-packages $(DEBIAN_TEST_PACKAGES) -- $(DEBIAN_TEST_COMMANDS)

serve: install
	$(BIN)/koprik demo --records $(DEMO_RECORDS) --if-empty
	$(BIN)/koprik serve

# The suite starts hundreds of Python processes (koprik commands and servers, scripts): they
# read Koprik's modules from bytecode cached by the first, not each compiling them again from
# source, even where the environment asks Python to write none (PYTHONDONTWRITEBYTECODE).
test: install-test
	$(BIN)/ruff check .
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -p no:cacheprovider --durations=30 \
		--numprocesses=$(TEST_PROCESSES) --dist=loadfile

lint: install-test
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/oai_provider.py

# Removes the venv, the build products and ./var, which holds the default catalogue
# (var/koprik.sqlite3: records, sources, users, the token key) and import reports:
# back it up first (`koprik backup FILE`) if it matters.
clean:
	rm -rf $(VENV) var .pytest_cache build .mypy_cache
	find . -name '*.so' -not -path './$(VENV)/*' -delete
