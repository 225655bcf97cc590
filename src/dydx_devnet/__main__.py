from dydx_devnet.cli import main

main()
