"""`zoe policies`: the policy and placement names."""

from __future__ import annotations


def list_policies() -> None:
    """List every policy and placement name with one line each."""
    import typer

    from zoe.policies.registry import describe

    for line in describe():
        typer.echo(line)
