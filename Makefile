# wgmesh.wireguard: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf

.PHONY: bootstrap demo lab-up lab-down test unit lint sanity molecule bench bench-role clean

bootstrap:
	@bash scripts/bootstrap-host.sh

lab-up: bootstrap
	@bash lab/lab.sh up 3

## Build the lab, deploy the mesh with ansible-playbook, show that every pair answers.
demo: lab-up
	@bash scripts/demo.sh

lab-down:
	@bash lab/lab.sh down

## All tests: units, lint, sanity, and the real mesh in molecule.
test: bootstrap unit lint sanity molecule

unit:
	python -m pytest -q tests/unit

lint:
	ansible-lint --profile production --offline

sanity:
	bash scripts/sanity.sh

molecule:
	molecule test -s default
	molecule test -s firewalld

bench: bootstrap
	python benchmarks/bench_mesh_model.py

## The role on the lab: 3 and 10 sites, first converge and idempotent re-run.
bench-role: bootstrap
	python benchmarks/bench_role.py

clean: lab-down
	rm -rf build .cache tests/output
