# The README's commands. Each one sets up its own pinned environment in .venv first.
.PHONY: setup test

setup:
	bash scripts/setup_env.sh

test:
	bash scripts/run_tests.sh
