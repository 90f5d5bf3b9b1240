"""``gpudoctor cluster``: run under torchrun; every node probes, rank 0 writes one report."""

from __future__ import annotations

import click


@click.command("cluster")
def cluster_command() -> None:
    """placeholder"""


def register(main: click.Group) -> None:
    main.add_command(cluster_command)
