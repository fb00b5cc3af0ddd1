"""The globalops command line (typer + rich)."""
