"""Reading a ZApp document of any supported version (DESIGN.md section 3).

:func:`import_zapp` is the one entry point for a JSON document that claims to be a
ZApp; :func:`load_zapp` is the same without the import notes. Version 4 goes
straight to :func:`zoe.core.zapp.parse_zapp`. Versions 1, 2 and 3, the formats of
the original Zoe, are rewritten into a version 4 document and then validated by
the same code, so one set of rules holds for every version. Every fault names its
path in the document as it was written (``services[1].essential_count``), never
the path in the rewritten document.

Rules of the import (versions 1-3):

- the flat ``services`` list becomes one framework named after the ZApp;
- ``startup_order`` becomes ``depends_on``: each group of the k-th distinct order
  level depends on every group of the level before it;
- version 1 has no counts: each service becomes one essential instance; it has no
  ``startup_order``, so its services do not depend on each other;
- ``docker_image`` (1, 2) or ``image`` (3) becomes ``image``; memory comes from
  ``required_resources.memory`` (1, 2) or ``resources.memory`` (3);
- cores: versions 1 and 2 may give ``required_resources.cores``, version 3
  ``resources.cores`` as ``{min, max}``; where no amount to reserve is given (absent,
  or ``min`` null), :data:`DEFAULT_CORES` is assumed and an import note says so.
  Memory has no default: a null ``min`` is a fault;
- ``environment`` as a list of ``[name, value]`` pairs becomes an object; a value
  that is a number becomes its decimal text (with a note); other non-string values
  and repeated names are faults;
- ports: ``port_number`` becomes ``port``; protocol ``http`` becomes ``tcp``;
  ``url_template`` (3) becomes ``url``; in versions 1 and 2 an ``http`` port gets
  the url ``http://{ip_port}`` followed by its ``path`` (default ``/``);
- volumes: ``[host path, mount path, read_only]`` (1, 2) and ``{name, path,
  read_only}`` (3) become ``{source, target, read_only}``;
- ``will_end`` true gives kind ``batch``, false ``interactive``; an empty
  ``command`` is no command;
- fields without a meaning in version 4 are dropped: ``priority``,
  ``requires_binary``, ``monitor``, ``networks``, ``replicas``, ``is_main_endpoint``,
  ``expose``, ``proxy``. Any other unknown field is a fault;
- a service name that is not a valid version 4 name (a lowercase DNS label) is
  refused with a suggested name, not renamed: environment templates such as
  ``{dns_name#spark-master0}`` name services, and a silent rename would break them.

The core does no I/O: callers read files and pass the parsed document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zoe.core.errors import Fault, InvalidZApp, NotAZApp
from zoe.core.zapp import ZAPP_VERSION, ZApp, parse_zapp

SUPPORTED_VERSIONS: tuple[int, ...] = (1, 2, 3, ZAPP_VERSION)
DEFAULT_CORES = 1
"""Cores reserved for a service of version 1-3 that gives no amount of cores."""

_SERVICE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

_DROPPED_ZAPP = frozenset({"priority", "requires_binary"})
_DROPPED_SERVICE = frozenset({"monitor", "networks", "replicas"})
_DROPPED_PORT = frozenset({"is_main_endpoint", "expose", "proxy"})

_ZAPP_FIELDS = {
    1: frozenset({"name", "version", "will_end", "services"}) | _DROPPED_ZAPP,
    2: frozenset({"name", "version", "will_end", "services"}) | _DROPPED_ZAPP,
    3: frozenset({"name", "version", "will_end", "size", "services"}) | _DROPPED_ZAPP,
}
_V1_SERVICE = frozenset(
    {"name", "docker_image", "command", "environment", "ports"}
    | {"required_resources", "volumes"}
)
_SERVICE_FIELDS = {
    1: _V1_SERVICE | _DROPPED_SERVICE,
    2: _V1_SERVICE
    | {"essential_count", "total_count", "startup_order"}
    | _DROPPED_SERVICE,
    3: frozenset(
        {"name", "image", "command", "environment", "ports", "resources", "volumes"}
        | {"labels", "essential_count", "total_count", "startup_order"}
    )
    | _DROPPED_SERVICE,
}
_PORT_FIELDS = {
    1: frozenset({"name", "port_number", "protocol", "path"}) | _DROPPED_PORT,
    2: frozenset({"name", "port_number", "protocol", "path"}) | _DROPPED_PORT,
    3: frozenset({"name", "port_number", "protocol", "url_template"}) | _DROPPED_PORT,
}
_OLD_REQUIRED_RESOURCES = frozenset({"memory", "cores"})
_V3_RESOURCES = frozenset({"memory", "cores"})
_V3_VOLUME = frozenset({"name", "path", "read_only"})
_FRAMEWORK = "frameworks[0]"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A ZApp read from a document, with how it was read.

    ``version`` is the version of the document as written; ``notes`` lists, as
    ``"path: what was assumed"`` lines with paths in that document, every
    assumption the import made (empty for version 4).
    """

    zapp: ZApp
    version: int
    notes: tuple[str, ...] = ()


def load_zapp(document: object, source: str | None = None) -> ZApp:
    """Return the ZApp of a parsed JSON ``document`` of any supported version.

    Same contract as :func:`import_zapp`, without the notes.
    """
    return import_zapp(document, source).zapp


def import_zapp(document: object, source: str | None = None) -> ImportResult:
    """Read a parsed JSON ``document`` of version 1, 2, 3 or 4 as a version 4 ZApp.

    Raises :class:`NotAZApp` for a document that is not an object, has no
    ``version``, or is a ZApp shop manifest (it has ``zapps``); raises
    :class:`InvalidZApp` with every fault and its path in ``document`` otherwise,
    including an unsupported ``version``. ``source`` (a file name) only labels the
    errors. Never modifies ``document``.
    """
    mapping, version = _checked_version(document, source)
    if version == ZAPP_VERSION:
        return ImportResult(parse_zapp(document, source), version)
    importer = _Importer(version)
    rewritten = importer.rewrite(mapping)
    try:
        zapp = parse_zapp(rewritten)
    except InvalidZApp as exc:
        raise InvalidZApp(importer.merged_faults(exc.faults), source) from None
    if importer.faults:
        raise InvalidZApp(importer.faults, source)
    return ImportResult(zapp, version, tuple(importer.notes))


def _checked_version(
    document: object, source: str | None
) -> tuple[Mapping[str, Any], int]:
    where = f"{source}: " if source else ""
    if not isinstance(document, Mapping):
        kind = type(document).__name__ if document is not None else "null"
        raise NotAZApp(f"{where}not a ZApp: expected a JSON object, got {kind}")
    if "zapps" in document:
        raise NotAZApp(
            f"{where}not a ZApp: this is a ZApp shop manifest (it lists 'zapps'); "
            "validate the ZApp files it names instead"
        )
    if "version" not in document:
        raise NotAZApp(
            f"{where}not a ZApp: it has no 'version' field (a ZApp is an object with "
            f"'name', 'version' ({_listed(SUPPORTED_VERSIONS)}) and 'frameworks' or "
            "'services')"
        )
    version = document["version"]
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise InvalidZApp(
            [
                Fault(
                    "version",
                    f"unsupported version {version!r}; supported versions: "
                    f"{_listed(SUPPORTED_VERSIONS)}",
                )
            ],
            source,
        )
    return document, version


def _listed(versions: Sequence[int]) -> str:
    return ", ".join(str(v) for v in versions)


def suggest_service_name(name: str) -> str:
    """Return a valid version 4 service name close to ``name`` (deterministic)."""
    lowered = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return lowered[:63].rstrip("-") or "service"


class _Importer:
    """Rewrites one version 1-3 document into version 4, recording three things.

    ``faults`` are the faults found while rewriting, with original paths;
    ``notes`` the assumptions made; ``paths`` maps each path of the rewritten
    document to the path of the original value it came from.
    """

    def __init__(self, version: int) -> None:
        self.version = version
        self.faults: list[Fault] = []
        self.notes: list[str] = []
        self.paths: dict[str, str] = {"kind": "will_end", _FRAMEWORK: ""}
        self.names: dict[str, int] = {}

    def fault(self, path: str, message: str) -> None:
        self.faults.append(Fault(path, message))

    def note(self, path: str, message: str) -> None:
        self.notes.append(f"{path}: {message}")

    def merged_faults(self, rewritten_faults: Sequence[Fault]) -> list[Fault]:
        """Return the import faults, then those of the rewritten document.

        A fault of the rewritten document is translated to its original path and
        left out when an import fault is at the same place, or inside or around
        it: the import dropped or replaced that value, and has said why.
        """
        result = list(self.faults)
        for fault in rewritten_faults:
            translated = Fault(self._original_path(fault.path), fault.message)
            if translated not in result and not any(
                _related(translated.path, known.path) for known in self.faults
            ):
                result.append(translated)
        return result

    def _original_path(self, path: str) -> str:
        best = ""
        for new in self.paths:
            if len(new) > len(best) and (
                path == new or path.startswith((f"{new}.", f"{new}["))
            ):
                best = new
        if not best:
            return path
        rest = path[len(best) :]
        old = self.paths[best]
        return old + rest if old or not rest.startswith(".") else rest[1:]

    def check_fields(
        self, value: Mapping[str, Any], path: str, valid: frozenset[str]
    ) -> None:
        for key in value:
            if key not in valid:
                where = f"{path}.{key}" if path else str(key)
                self.fault(
                    where,
                    f"unknown field in a version {self.version} ZApp; valid fields "
                    f"here are: {', '.join(sorted(valid))}",
                )

    def rewrite(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Return the version 4 form of ``document`` (meaningful only if no fault)."""
        self.check_fields(document, "", _ZAPP_FIELDS[self.version])
        result: dict[str, Any] = {"version": ZAPP_VERSION}
        framework: dict[str, Any] = {}
        if "name" in document:
            result["name"] = framework["name"] = document["name"]
        self.paths[f"{_FRAMEWORK}.name"] = "name"
        if "size" in document:
            result["size"] = document["size"]
        self._kind(document, result)

        services = document.get("services")
        self.paths[f"{_FRAMEWORK}.services"] = "services"
        self.paths["frameworks"] = "services"
        if not isinstance(services, list):
            self.fault("services", "expected a list of services (objects)")
            services = []
        if self.version == 1 and services:
            self.note(
                "services",
                "version 1 has no counts; each service is one essential instance",
            )
        framework["services"] = [
            self._service(i, entry) for i, entry in enumerate(services)
        ]
        self._dependencies(services, framework["services"])
        result["frameworks"] = [framework]
        return result

    def _kind(self, document: Mapping[str, Any], result: dict[str, Any]) -> None:
        will_end = document.get("will_end")
        if not isinstance(will_end, bool):
            self.fault(
                "will_end",
                "required boolean: true for a batch ZApp that ends by itself, "
                f"false for an interactive one (got {will_end!r})",
            )
            return
        result["kind"] = "batch" if will_end else "interactive"

    def _service(self, i: int, entry: object) -> dict[str, Any]:
        path = f"services[{i}]"
        new = f"{_FRAMEWORK}.services[{i}]"
        self.paths[new] = path
        if not isinstance(entry, Mapping):
            self.fault(path, "expected an object describing a service")
            return {}
        self.check_fields(entry, path, _SERVICE_FIELDS[self.version])
        result: dict[str, Any] = {}
        self._name(entry, i, result)
        image_field = "image" if self.version == 3 else "docker_image"
        self.paths[f"{new}.image"] = f"{path}.{image_field}"
        if image_field in entry:
            result["image"] = entry[image_field]
        command = entry.get("command")
        if command is not None and command != "":
            result["command"] = command
        self._counts(entry, path, result)
        result["resources"] = self._resources(entry, path, new)
        result["environment"] = self._environment(entry.get("environment", []), path)
        result["ports"] = self._ports(entry.get("ports", []), path, new)
        result["volumes"] = self._volumes(entry.get("volumes", []), path, new)
        if "labels" in entry:
            result["labels"] = entry["labels"]
        return result

    def _name(self, entry: Mapping[str, Any], i: int, result: dict[str, Any]) -> None:
        path = f"services[{i}]"
        name = entry.get("name")
        if "name" not in entry:
            self.fault(f"{path}.name", "required field is missing")
        elif not isinstance(name, str) or not _SERVICE_NAME_RE.match(name):
            hint = ""
            if isinstance(name, str):
                hint = (
                    f"; rename it, e.g. to {suggest_service_name(name)!r}, and the "
                    "{dns_name#...} templates that name it"
                )
            self.fault(
                f"{path}.name",
                f"{name!r} is not a valid service name in version 4 (lowercase "
                "letters, digits and '-', 1 to 63 characters, starting and ending "
                f"with a letter or digit){hint}",
            )
        elif name in self.names:
            self.fault(
                f"{path}.name",
                f"duplicate service name {name!r} (also services[{self.names[name]}]); "
                "service names must be unique",
            )
        else:
            self.names[name] = i
            result["name"] = name

    def _counts(
        self, entry: Mapping[str, Any], path: str, result: dict[str, Any]
    ) -> None:
        if self.version == 1:
            result["essential_count"] = result["total_count"] = 1
            return
        for key in ("essential_count", "total_count"):
            if key in entry:
                result[key] = entry[key]

    def _resources(
        self, entry: Mapping[str, Any], path: str, new: str
    ) -> dict[str, Any]:
        if self.version == 3:
            return self._resources_v3(entry.get("resources"), f"{path}.resources", new)
        where = f"{path}.required_resources"
        self.paths[f"{new}.resources"] = where
        value = entry.get("required_resources")
        if not isinstance(value, Mapping):
            self.fault(where, "required object with 'memory' in bytes")
            return {}
        self.check_fields(value, where, _OLD_REQUIRED_RESOURCES)
        result: dict[str, Any] = {}
        if "memory" in value:
            result["memory"] = value["memory"]
        if value.get("cores") is None:
            self.note(f"{where}.cores", f"not given; {_cores(DEFAULT_CORES)} assumed")
            result["cores"] = DEFAULT_CORES
        else:
            result["cores"] = value["cores"]
        return result

    def _resources_v3(self, value: object, where: str, new: str) -> dict[str, Any]:
        self.paths[f"{new}.resources"] = where
        if not isinstance(value, Mapping):
            self.fault(where, "required object with 'memory' and 'cores'")
            return {}
        self.check_fields(value, where, _V3_RESOURCES)
        result: dict[str, Any] = {}
        memory = value.get("memory")
        if isinstance(memory, Mapping) and memory.get("min") is None:
            self.fault(
                f"{where}.memory.min",
                "the memory to reserve is not given (null); write it in bytes, "
                "e.g. 536870912",
            )
        elif memory is not None:
            result["memory"] = memory
        cores = value.get("cores")
        if cores is None or (isinstance(cores, Mapping) and cores.get("min") is None):
            self.note(f"{where}.cores", f"not given; {_cores(DEFAULT_CORES)} assumed")
            high = cores.get("max") if isinstance(cores, Mapping) else None
            result["cores"] = {"min": DEFAULT_CORES, "max": high}
        else:
            result["cores"] = cores
        return result

    def _environment(self, value: object, path: str) -> dict[str, Any]:
        where = f"{path}.environment"
        if not isinstance(value, list):
            self.fault(where, "expected a list of [name, value] pairs")
            return {}
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for k, pair in enumerate(value):
            item = f"{where}[{k}]"
            if not (isinstance(pair, list) and len(pair) == 2):
                self.fault(item, f"expected a [name, value] pair, got {pair!r}")
                continue
            name, text = pair
            if not isinstance(name, str) or not name:
                self.fault(
                    f"{item}[0]", f"variable name must be a string, got {name!r}"
                )
                continue
            if name in seen:
                self.fault(
                    item, f"variable {name!r} is also set at {where}[{seen[name]}]"
                )
                continue
            seen[name] = k
            converted = self._env_value(text, f"{item}[1]", name)
            if converted is not None:
                result[name] = converted
        return result

    def _env_value(self, value: object, where: str, name: str) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.note(where, f"{name} is a number; imported as the string '{value}'")
            return str(value)
        self.fault(
            where,
            f"the value of {name} must be a string (or a number, imported as its "
            f"text), got {value!r}",
        )
        return None

    def _ports(self, value: object, path: str, new: str) -> list[dict[str, Any]]:
        where = f"{path}.ports"
        self.paths[f"{new}.ports"] = where
        if not isinstance(value, list):
            self.fault(where, "expected a list of port objects")
            return []
        result = []
        for j, port in enumerate(value):
            self.paths[f"{new}.ports[{j}]"] = f"{where}[{j}]"
            self.paths[f"{new}.ports[{j}].port"] = f"{where}[{j}].port_number"
            self.paths[f"{new}.ports[{j}].url"] = f"{where}[{j}].url_template"
            if not isinstance(port, Mapping):
                self.fault(f"{where}[{j}]", "expected a port object")
                continue
            self.check_fields(port, f"{where}[{j}]", _PORT_FIELDS[self.version])
            result.append(self._port(port, f"{where}[{j}]"))
        return result

    def _port(self, port: Mapping[str, Any], where: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for old, key in (("name", "name"), ("port_number", "port")):
            if old in port:
                result[key] = port[old]
        protocol = port.get("protocol", "tcp")
        result["protocol"] = "tcp" if protocol == "http" else protocol
        if self.version == 3:
            if port.get("url_template") is not None:
                result["url"] = port["url_template"]
            elif protocol == "http":
                result["url"] = "http://{ip_port}/"
        elif protocol == "http":
            url_path = port.get("path", "/")
            if not isinstance(url_path, str):
                self.fault(f"{where}.path", f"expected a string, got {url_path!r}")
                return result
            result["url"] = "http://{ip_port}" + "/" + url_path.lstrip("/")
        return result

    def _volumes(self, value: object, path: str, new: str) -> list[dict[str, Any]]:
        where = f"{path}.volumes"
        self.paths[f"{new}.volumes"] = where
        if not isinstance(value, list):
            self.fault(where, "expected a list of volumes")
            return []
        result = []
        for j, volume in enumerate(value):
            item = f"{where}[{j}]"
            self.paths[f"{new}.volumes[{j}]"] = item
            if self.version == 3:
                converted = self._volume_v3(volume, item, f"{new}.volumes[{j}]")
            else:
                converted = self._volume_old(volume, item, f"{new}.volumes[{j}]")
            if converted is not None:
                result.append(converted)
        return result

    def _volume_v3(self, volume: object, item: str, new: str) -> dict[str, Any] | None:
        if not isinstance(volume, Mapping):
            self.fault(item, "expected an object {name, path, read_only}")
            return None
        self.check_fields(volume, item, _V3_VOLUME)
        self.paths[f"{new}.source"] = f"{item}.name"
        self.paths[f"{new}.target"] = f"{item}.path"
        pairs = (("name", "source"), ("path", "target"), ("read_only", "read_only"))
        return {key: volume[old] for old, key in pairs if old in volume}

    def _volume_old(self, volume: object, item: str, new: str) -> dict[str, Any] | None:
        if not (isinstance(volume, list) and len(volume) == 3):
            self.fault(item, "expected [host path, mount path, read_only]")
            return None
        for k, key in enumerate(("source", "target", "read_only")):
            self.paths[f"{new}.{key}"] = f"{item}[{k}]"
        return {"source": volume[0], "target": volume[1], "read_only": volume[2]}

    def _dependencies(self, services: list[Any], groups: list[dict[str, Any]]) -> None:
        if self.version == 1:
            return
        orders: list[int] = []
        for i, entry in enumerate(services):
            order = entry.get("startup_order") if isinstance(entry, Mapping) else 0
            self.paths[f"{_FRAMEWORK}.services[{i}].depends_on"] = (
                f"services[{i}].startup_order"
            )
            if type(order) is not int or order < 0:
                got = "it is missing" if order is None else f"got {order!r}"
                self.fault(
                    f"services[{i}].startup_order",
                    f"required integer of 0 or more (services of one order start "
                    f"together, after those of the order before); {got}",
                )
                order = 0
            orders.append(order)
        levels = sorted(set(orders))
        for group, order in zip(groups, orders, strict=True):
            rank = levels.index(order)
            if rank > 0 and "name" in group:
                group["depends_on"] = [
                    other["name"]
                    for other, o in zip(groups, orders, strict=True)
                    if o == levels[rank - 1] and "name" in other
                ]


def _related(path: str, other: str) -> bool:
    """True when one path is the other or lies inside it."""
    short, long = sorted((path, other), key=len)
    return long == short or long.startswith((f"{short}.", f"{short}["))


def _cores(count: int) -> str:
    return f"{count} core" if count == 1 else f"{count} cores"
