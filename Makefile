# The README's commands. Each one sets up its own pinned environment in .venv first.
.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/run_tests.sh
