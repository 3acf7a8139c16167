from poppyscan.cli.main import cli

cli()
