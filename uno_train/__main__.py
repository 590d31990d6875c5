from uno_train.cli import main

main()
