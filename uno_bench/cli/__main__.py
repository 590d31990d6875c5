"""`python -m uno_bench.cli ...` = `uno-bench ...` (what tests and torchrun launch)."""

from uno_bench.cli import main

main()
