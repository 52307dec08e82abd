# Bare machine, no ROS installed: everything lives in .venv (see README).
# Each step leaves a stamp, so a second run with nothing changed installs nothing.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
SITE := $(VENV)/lib/python3.11/site-packages
MSGS := $(wildcard msg/*.msg)

export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: venv test demo lint clean

venv: $(STAMPS)/messages

$(STAMPS)/venv:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==24.3.1
	mkdir -p $(STAMPS) && touch $@

# llama-cpp-python compiles from source; GGML_NATIVE=OFF avoids the AMX code that crashes here.
$(STAMPS)/requirements: requirements.txt requirements-nodeps.txt constraints.txt $(STAMPS)/venv
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --quiet -r requirements.txt \
		-c constraints.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

# pip (re)installing the editable package removes site-packages/reasonact_ros,
# where the generated messages live, so messages are installed after it.
$(STAMPS)/package: setup.py $(STAMPS)/requirements
	$(PY) -m pip install --quiet --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e .
	touch $@

$(STAMPS)/messages: $(MSGS) CMakeLists.txt package.xml reasonact_ros/__init__.py $(STAMPS)/package
	mkdir -p build
	AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) cmake -S . -B build/messages -Wno-dev \
		-DCMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) -DCMAKE_INSTALL_PREFIX=$(CURDIR)/$(VENV) \
		-DPython3_EXECUTABLE=$(CURDIR)/$(PY) -DBUILD_TESTING=OFF \
		-DREASONACT_INSTALL_PYTHON=OFF > build/messages.log \
		|| { cat build/messages.log; exit 1; }
	cmake --build build/messages -j2 >> build/messages.log || { cat build/messages.log; exit 1; }
	cmake --install build/messages >> build/messages.log || { cat build/messages.log; exit 1; }
	# The generated package's empty __init__.py would hide the checkout's modules;
	# ours extends __path__ so one import name serves both directories.
	cp reasonact_ros/__init__.py $(SITE)/reasonact_ros/__init__.py
	touch $@

test: venv
	$(PY) -m pytest

demo: venv
	$(VENV)/bin/reasonact demo --out out/demo

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf build install log out
