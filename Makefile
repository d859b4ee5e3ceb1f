# wgmesh.wireguard: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf

.PHONY: bootstrap demo lab-up lab-down test unit lint sanity units-ansible-test docs-lint molecule molecule-docker molecule-registry molecule-registry-docker bench bench-role bench-rotation-wan ee docs-site clean

bootstrap:
	@bash scripts/bootstrap-host.sh

lab-up: bootstrap
	@bash lab/lab.sh up 3

## Build the lab, deploy the mesh with ansible-playbook, show that every pair answers.
demo: lab-up
	@bash scripts/demo.sh

lab-down:
	@bash lab/lab.sh down

## All tests: units, lint, sanity, the docs as antsibull-docs reads them, and the real mesh in molecule.
test: bootstrap unit lint sanity units-ansible-test docs-lint docs-site molecule

unit:
	python -m pytest -q tests/unit

lint:
	ansible-lint --profile production --offline

## On the newest ansible-core (.venv) and on the oldest the collection supports (.venv-oldest).
sanity:
	bash scripts/ansible-test.sh sanity
	VENV=$(CURDIR)/.venv-oldest bash scripts/ansible-test.sh sanity

## The unit tests as ansible-test runs them (in its own venv, from tests/unit/requirements.txt).
units-ansible-test:
	bash scripts/ansible-test.sh units

docs-lint:
	bash scripts/docs-lint.sh

## Every scenario runs even after a failure; the failing tests' reports are printed last.
molecule:
	@bash scripts/molecule-all.sh

## Not in `make test`. molecule/debian with the docker driver (Debian 12 + 13); a Docker daemon
## of its own is started first and stopped after, also when the test fails.
DOCKER_RUN = export DOCKER_HOST=unix:///run/wgmesh-docker/docker.sock; rc=0; \
	bash scripts/docker-daemon.sh start bookworm trixie && $(1) || rc=$$?; \
	bash scripts/docker-daemon.sh stop; exit $$rc
molecule-docker: bootstrap
	@$(call DOCKER_RUN,molecule test -s debian-docker)

## Rocky Linux 9, AlmaLinux 9, Ubuntu 24.04 from a registry (podman, docker). Where the images
## cannot be pulled: "SKIPPED: ..." with the reason, exit 77 (never a pass).
molecule-registry: bootstrap
	@bash scripts/molecule-registry.sh podman

molecule-registry-docker: bootstrap
	@$(call DOCKER_RUN,bash scripts/molecule-registry.sh docker)

bench: bootstrap
	python benchmarks/bench_mesh_model.py

## The documentation site (HTML) from antsibull-docs and Sphinx, in build/docs-site/build/html.
docs-site: bootstrap
	bash scripts/docs-site.sh

## The execution environment (execution-environment.yml) built with ansible-builder, and the site
## playbook run from inside it against the lab with ansible-runner, twice (the second changes nothing).
ee: lab-up
	@bash scripts/ee.sh

## The role on the lab at 3, 10, 25 and 50 sites: first converge, re-runs, rounds, tasks per host,
## memory, verify and rotation, to benchmarks/results/role.md (about 50 minutes; the lab is removed).
bench-role: bootstrap
	python benchmarks/bench_role.py

## Key and PSK rotation under 100 packets/s per direction over a 40 ms WAN, idle and with two
## CPU-bound processes: benchmarks/results/rotation-wan.md (about 10 minutes; the lab stays up).
bench-rotation-wan: demo
	cd molecule/default && python -m pytest -q -p no:cacheprovider -m bench tests/test_wan.py

clean: lab-down
	rm -rf build .cache tests/output
