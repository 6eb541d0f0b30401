"""`openhss agent`: run on each host to report its local images and containers to an openhss server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from openhss.cli_secrets import SkFileOption, SkOption, secret_key


def agent_command(
    server: Annotated[str, typer.Option(envvar="OPENHSS_SERVER", help="Server URL, e.g. http://hss:8080")],
    ak: Annotated[str, typer.Option("--ak", envvar="OPENHSS_AK", help="Access key (operator role)")],
    sk: SkOption = "",
    sk_file: SkFileOption = None,
    project_id: Annotated[
        str, typer.Option(envvar="OPENHSS_PROJECT_ID", help="Project (default: the key's only one)")
    ] = "",
    docker_host: Annotated[
        str, typer.Option(envvar="DOCKER_HOST", help="Docker Engine API socket (Docker or podman)")
    ] = "",
    containerd_socket: Annotated[
        str, typer.Option(help="containerd socket, read in the CRI namespace (Kubernetes pods)")
    ] = "",
    containerd_namespace: Annotated[str, typer.Option(help="containerd namespace")] = "k8s.io",
    host_id: Annotated[str, typer.Option(help="Host id (default: /etc/machine-id)")] = "",
    host_name: Annotated[str, typer.Option(help="Host name (default: the system's)")] = "",
    agent_id: Annotated[str, typer.Option(help="Agent id (default: derived from the host id)")] = "",
    public_ip: Annotated[str, typer.Option(help="Public IP to report")] = "",
    cluster_id: Annotated[str, typer.Option(envvar="OPENHSS_CLUSTER_ID", help="Kubernetes cluster id")] = "",
    cluster_name: Annotated[str, typer.Option(envvar="OPENHSS_CLUSTER_NAME", help="Cluster name")] = "",
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds between cycles (default: the server's)")
    ] = None,
    scan: Annotated[bool, typer.Option(help="Run the scans the server assigns to this host")] = True,
    cache_dir: Annotated[Path | None, typer.Option(help="Layer cache directory for local scans")] = None,
    shared_cache: Annotated[
        bool, typer.Option(help="Use the server's layer cache (layers analysed anywhere are reused)")
    ] = True,
    once: Annotated[
        bool, typer.Option("--once", help="Register, report and heartbeat once, then exit")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Report this host's images and running containers to the server, and heartbeat."""
    from openhss.agent.inventory import InventoryError
    from openhss.agent.runner import Agent, AgentConfig

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        sk = secret_key(sk, sk_file)
        if not sk:
            raise typer.BadParameter("a secret key is needed: set OPENHSS_SK or --sk-file")
    except typer.BadParameter as exc:
        typer.echo(f"openhss: agent: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if not docker_host and not containerd_socket:
        docker_host = "unix:///var/run/docker.sock"
    cfg = AgentConfig(
        server=server,
        ak=ak,
        sk=sk,
        project_id=project_id,
        docker_host=docker_host or None,
        containerd_socket=containerd_socket or None,
        containerd_namespace=containerd_namespace,
        host_id=host_id,
        host_name=host_name,
        agent_id=agent_id,
        public_ip=public_ip,
        cluster_id=cluster_id,
        cluster_name=cluster_name,
        interval=interval,
        scan=scan,
        cache_dir=cache_dir,
        shared_cache=shared_cache,
    )
    try:
        Agent(cfg).run(once=once)
    except (InventoryError, RuntimeError, OSError, ValueError) as exc:
        typer.echo(f"openhss: agent: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
