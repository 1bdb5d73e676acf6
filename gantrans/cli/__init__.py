"""Command-line interface (Typer). Heavy imports (torch) happen inside command bodies only."""
