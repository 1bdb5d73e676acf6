from gantrans.cli.main import main

main()
