from uno_bench.cli import main

main()
