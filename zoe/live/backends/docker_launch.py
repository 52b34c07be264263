"""What a container is made of: names, DNS aliases, templates and limits.

Pure functions of a :class:`~zoe.live.backends.ServiceLaunch`, shared by the
Docker engine and Swarm backends.

Templates in a service's environment values and command (:func:`render`):
``{execution_id}``, ``{execution_name}``, ``{user_name}``, ``{deployment}``,
``{service_name}`` (the instance name, e.g. ``worker-3``) and
``{dns_name#NAME}``, the DNS name of instance NAME of the same execution, written
``master-0`` or ``master0``. ``{{`` and ``}}`` stand for literal braces. Anything
else between braces is an error on that service (:class:`TemplateError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from zoe.live.backends import LABEL_DEPLOYMENT, LABEL_SERVICE_NAME, ServiceLaunch

NANO_CPUS_PER_MILLICORE = 1_000_000
MAX_HOSTNAME = 63
TEMPLATE_NAMES = (
    "execution_id",
    "execution_name",
    "user_name",
    "deployment",
    "service_name",
    "dns_name#NAME",
)
_TEMPLATE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_RETRY_SUFFIX = re.compile(r"-r[0-9]+$")


class TemplateError(ValueError):
    """A template of a service's environment or command cannot be filled in."""


# -- names and templates ---------------------------------------------------------


def instance_name(launch_or_labels: ServiceLaunch | Mapping[str, str]) -> str:
    """The instance name without its retry suffix: ``worker-3`` of ``worker-3-r1``."""
    labels = (
        launch_or_labels.labels
        if isinstance(launch_or_labels, ServiceLaunch)
        else launch_or_labels
    )
    return _RETRY_SUFFIX.sub("", labels.get(LABEL_SERVICE_NAME, ""))


def network_name(deployment: str, execution_id: int) -> str:
    """The per-execution network: ``zoe-<deployment>-<execution id>``."""
    return f"zoe-{deployment}-{execution_id}"


def shared_network_name(deployment: str) -> str:
    """The one network of a deployment in ``shared`` mode: ``zoe-<deployment>``."""
    return f"zoe-{deployment}"


def qualified_name(launch: ServiceLaunch, instance: str) -> str:
    """A DNS name unique in the deployment: ``zoe-<deployment>-<id>-<instance>``."""
    deployment = launch.labels.get(LABEL_DEPLOYMENT, "")
    return f"zoe-{deployment}-{launch.execution.execution_id}-{instance}"


def aliases(launch: ServiceLaunch, shared: bool = False) -> list[str]:
    """DNS names of the container on its network.

    On a network per execution: ``worker-3``, ``worker3`` and the group name
    ``worker`` (shared by the instances of the group: a name that resolves to
    any of them). On a shared network: only :func:`qualified_name`.
    """
    name = instance_name(launch)
    if shared:
        return [qualified_name(launch, name)]
    group, _, index = name.rpartition("-")
    return [name, f"{group}{index}", group] if group else [name]


def hostname(launch: ServiceLaunch, shared: bool = False) -> str | None:
    """The container's hostname, which Docker's DNS also resolves on its network.

    On a network per execution: the instance name (``worker-3``). On a shared
    network: :func:`qualified_name`, so that no execution resolves another's
    services by their bare names; None (Docker's default, the short container
    id) when that name is longer than a hostname may be (63 characters).
    """
    name = instance_name(launch)
    if not shared:
        return name
    qualified = qualified_name(launch, name)
    return qualified if len(qualified) <= MAX_HOSTNAME else None


def render(text: str, launch: ServiceLaunch, shared: bool = False) -> str:
    """Fill in the templates of ``text``; :class:`TemplateError` for an unknown one.

    ``shared``: the services are on a deployment's shared network, where DNS
    names are qualified (:func:`qualified_name`).
    """
    values = {
        "execution_id": str(launch.execution.execution_id),
        "execution_name": launch.execution_name,
        "user_name": launch.user,
        "deployment": launch.labels.get(LABEL_DEPLOYMENT, ""),
        "service_name": instance_name(launch),
    }

    def fill(match: re.Match[str]) -> str:
        whole, key = match.group(0), match.group(1)
        if key is None:
            return whole[0]
        if key.startswith("dns_name#"):
            peer = _dns_name(key.removeprefix("dns_name#"), launch)
            return qualified_name(launch, peer) if shared else peer
        if key in values:
            return values[key]
        raise TemplateError(
            f"unknown template {{{key}}}; supported: "
            + ", ".join(f"{{{n}}}" for n in TEMPLATE_NAMES)
        )

    return _TEMPLATE.sub(fill, text)


def _dns_name(target: str, launch: ServiceLaunch) -> str:
    # a scan of the tuple: building a set per service would cost the square
    # of the services for a large execution
    peers = launch.peers
    if target in peers:
        return target
    spaced = re.sub(r"([0-9]+)$", r"-\1", target)
    if spaced in peers:
        return spaced
    listed = ", ".join(sorted(peers)[:20]) or "unknown"
    if len(peers) > 20:
        listed += f", ... ({len(peers)} in all)"
    raise TemplateError(
        f"{{dns_name#{target}}}: no service {target!r} in this execution; "
        f"its services are {listed}"
    )


def rendered_environment(launch: ServiceLaunch, shared: bool = False) -> dict[str, str]:
    """The environment with its templates filled in (:class:`TemplateError`)."""
    environment = {}
    for key, value in launch.environment.items():
        try:
            environment[key] = render(value, launch, shared)
        except TemplateError as exc:
            raise TemplateError(f"environment {key}: {exc}") from None
    return environment


def rendered_command(
    launch: ServiceLaunch, shared: bool = False
) -> str | list[str] | None:
    """The command with its templates filled in (:class:`TemplateError`)."""
    command = launch.command
    try:
        if command is None:
            return None
        if isinstance(command, str):
            return render(command, launch, shared)
        return [render(part, launch, shared) for part in command]
    except TemplateError as exc:
        raise TemplateError(f"command: {exc}") from None


# -- limits, ports, volumes -----------------------------------------------------------


def nano_cpus(launch: ServiceLaunch, host_cpus: int | None = None) -> int:
    """The CPU limit: the ZApp's maximum cores if given, else its minimum, at most
    ``host_cpus`` (Docker refuses a limit above the CPUs of its host)."""
    millicores = launch.max_millicores or launch.millicores
    limit = millicores * NANO_CPUS_PER_MILLICORE
    if host_cpus is not None and host_cpus > 0:
        limit = min(limit, host_cpus * 1000 * NANO_CPUS_PER_MILLICORE)
    return limit


def memory_limit(launch: ServiceLaunch) -> int:
    """The memory limit in bytes: the ZApp's maximum if given, else its minimum."""
    return launch.max_memory or launch.memory


def port_keys(launch: ServiceLaunch) -> list[str]:
    """``8080/tcp`` for each published port."""
    return [f"{port}/{protocol}" for port, protocol in launch.ports]


def binds(launch: ServiceLaunch) -> list[str]:
    """``source:target:ro|rw`` for each volume."""
    return [
        f"{source}:{target}:{'ro' if read_only else 'rw'}"
        for source, target, read_only in launch.volumes
    ]
