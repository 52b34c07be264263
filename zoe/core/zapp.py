"""The ZApp model, version 4 (DESIGN.md section 3), and its validation.

A ZApp is parsed in two passes. The first (pydantic) checks structure and types and
normalises units: cores become millicores, memory becomes bytes, each as an
:class:`Amount` with a reserved ``min`` and an optional ``max``. The second checks
what a type cannot say: counts, unique names, known and acyclic dependencies. Every
fault carries the JSON path where it is (``frameworks[0].services[1].
essential_count``) and what would be valid; all faults are reported at once. One ZApp
has at most :data:`MAX_ZAPP_SERVICES` services in all, whatever runs it.

Earlier versions are imported by :mod:`zoe.core.zapp_import`; :func:`load_zapp` is
the one entry point that takes a document of any supported version.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict

from zoe.core.errors import Fault, InvalidZApp
from zoe.core.resources import Resources, format_cores, parse_cores, parse_memory

ZAPP_VERSION = 4
MAX_ZAPP_SERVICES = 1_000_000
"""The most services (the sum of every group's ``total_count``) of one ZApp.

Far above the largest job of the Google and Alibaba traces, it bounds what one
execution makes a scheduler hold (a list entry per service). A live deployment
sets its own, lower limit (``max_services`` of the master's configuration).
"""

_STRICT = ConfigDict(extra="forbid")
_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_DNS_NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_ABSOLUTE_RE = r"^/"


@dataclass(frozen=True, slots=True, config=_STRICT)
class Amount:
    """A resource amount in base units (millicores or bytes).

    ``min`` is what the scheduler reserves; ``max`` is the limit given to the
    container, ``None`` for no limit.
    """

    min: int
    max: int | None


class _RangeIn(TypedDict, total=False):
    min: float | int | str
    max: float | int | str | None


def _amount(parse: Any, what: str) -> Any:
    def convert(value: object) -> object:
        if isinstance(value, Amount):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"min", "max"}
            if unknown:
                raise ValueError(
                    f"unknown key(s) {sorted(unknown)} in {what} range; use 'min' and "
                    "'max'"
                )
            if value.get("min") is None:
                raise ValueError(f"{what} range needs a 'min' (the amount reserved)")
            low = parse(value["min"])
            high = None if value.get("max") is None else parse(value["max"])
        else:
            low = high = parse(value)
        if low <= 0:
            raise ValueError(f"{what} must be greater than zero, got {value!r}")
        if high is not None and high < low:
            raise ValueError(f"{what} max must be at least its min, got {value!r}")
        return Amount(low, high)

    return convert


def _serialize_cores(amount: Amount) -> object:
    if amount.max == amount.min:
        return format_cores(amount.min)
    high = None if amount.max is None else format_cores(amount.max)
    return {"min": format_cores(amount.min), "max": high}


def _serialize_memory(amount: Amount) -> object:
    if amount.max == amount.min:
        return amount.min
    return {"min": amount.min, "max": amount.max}


Cores = Annotated[
    Amount,
    BeforeValidator(
        _amount(parse_cores, "cores"), json_schema_input_type=float | _RangeIn
    ),
    PlainSerializer(_serialize_cores),
]
Memory = Annotated[
    Amount,
    BeforeValidator(
        _amount(parse_memory, "memory"), json_schema_input_type=int | str | _RangeIn
    ),
    PlainSerializer(_serialize_memory),
]
Name = Annotated[str, Field(pattern=_NAME_RE)]
ServiceName = Annotated[str, Field(pattern=_DNS_NAME_RE)]


@dataclass(frozen=True, slots=True, config=_STRICT)
class ResourceSpec:
    """What each instance of a service group reserves: cores and memory."""

    cores: Cores
    memory: Memory


@dataclass(frozen=True, slots=True, config=_STRICT)
class Port:
    """A port a service exposes; ``url`` may use ``{ip_port}`` as a template."""

    name: str
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["tcp", "udp"] = "tcp"
    url: str | None = None


@dataclass(frozen=True, slots=True, config=_STRICT)
class Volume:
    """A host path or named volume mounted at an absolute path in the container."""

    source: Annotated[str, Field(min_length=1)]
    target: Annotated[str, Field(pattern=_ABSOLUTE_RE)]
    read_only: bool = False


@dataclass(frozen=True, slots=True, config=_STRICT)
class ServiceGroup:
    """One entry of a framework: an image, a command, resources and two counts.

    The first ``essential_count`` instances are essential, the remaining
    ``total_count - essential_count`` elastic.
    """

    name: ServiceName
    image: Annotated[str, Field(min_length=1)]
    essential_count: Annotated[int, Field(ge=0)]
    total_count: Annotated[int, Field(ge=1)]
    resources: ResourceSpec
    command: str | list[str] | None = None
    labels: list[str] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    volumes: list[Volume] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    @property
    def elastic_count(self) -> int:
        """The number of elastic instances of this group."""
        return self.total_count - self.essential_count

    @property
    def demand(self) -> Resources:
        """What one instance reserves, in exact units."""
        return Resources(self.resources.cores.min, self.resources.memory.min)


@dataclass(frozen=True, slots=True, config=_STRICT)
class Framework:
    """A named group of service groups; may depend on other frameworks."""

    name: Name
    services: Annotated[list[ServiceGroup], Field(min_length=1)]
    depends_on: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, config=_STRICT)
class ZApp:
    """An application description, version 4. Immutable once validated.

    Build one with :func:`parse_zapp` (version 4 only) or :func:`load_zapp` (any
    supported version); constructing it directly skips the semantic checks.
    """

    name: Name
    frameworks: Annotated[list[Framework], Field(min_length=1)]
    version: Literal[4] = 4
    kind: Literal["batch", "interactive"] = "batch"
    size: Annotated[float, Field(gt=0)] | None = None

    def groups(self) -> Iterator[tuple[Framework, ServiceGroup]]:
        """Yield every service group with its framework, in ZApp order."""
        for framework in self.frameworks:
            for group in framework.services:
                yield framework, group

    @property
    def service_count(self) -> int:
        """The number of services (instances) of one execution of this ZApp."""
        return sum(group.total_count for _, group in self.groups())

    @property
    def essential_count(self) -> int:
        """The number of essential services of one execution."""
        return sum(group.essential_count for _, group in self.groups())

    def to_dict(self) -> dict[str, Any]:
        """Return the ZApp as a version 4 JSON document (units normalised)."""
        result: dict[str, Any] = _adapter().dump_python(self, mode="json")
        return result


@cache
def _adapter() -> TypeAdapter[ZApp]:
    return TypeAdapter(ZApp)


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of ZApp version 4, generated from the model."""
    schema = _adapter().json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ZApp, version 4"
    return schema


def parse_zapp(document: object, source: str | None = None) -> ZApp:
    """Validate a version 4 document and return the ZApp.

    Raises :class:`InvalidZApp` listing every fault with its JSON path. ``source``
    (a file name) only labels the error.
    """
    try:
        zapp = _adapter().validate_python(document)
    except ValidationError as exc:
        raise InvalidZApp(_faults_of(exc), source) from None
    faults = list(semantic_faults(zapp))
    if faults:
        raise InvalidZApp(faults, source)
    return zapp


def json_path(loc: tuple[int | str, ...]) -> str:
    """Render a location tuple as a JSON path such as ``frameworks[0].name``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _faults_of(exc: ValidationError) -> list[Fault]:
    messages: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not _is_branch_tag(p))
        said = messages.setdefault(json_path(loc), [])
        message = _message(error)
        if message not in said:
            said.append(message)
    # the branches of a union fail at the same path: one fault says all they want
    return [Fault(path, " or ".join(said)) for path, said in messages.items()]


def _is_branch_tag(part: object) -> bool:
    # pydantic names the branch of a union it tried ("str", "list[str]",
    # "function-before[...]"); these are not part of the document's path.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float"})


def _message(error: Any) -> str:
    kind = error["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        valid = _valid_fields(error["loc"][:-1])
        return f"unknown field; valid fields here are: {', '.join(valid)}"
    if kind in ("missing", "missing_argument"):
        return "required field is missing"
    if kind == "literal_error" and error["loc"] == ("version",):
        return f"version must be {ZAPP_VERSION} here (use load_zapp for versions 1-3)"
    if kind == "string_pattern_mismatch" and error["ctx"]["pattern"] in _PATTERNS:
        return f"{_PATTERNS[error['ctx']['pattern']]}; got {error['input']!r}"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


_PATTERNS = {
    _NAME_RE: "a name is 1 to 63 letters, digits, '_', '.' or '-', starting with a "
    "letter or digit",
    _DNS_NAME_RE: "a service name is a lowercase DNS label: 1 to 63 lowercase "
    "letters, digits or '-', starting and ending with a letter or digit (e.g. "
    "'spark-worker')",
    _ABSOLUTE_RE: "a mount target is an absolute path, starting with '/'",
}


_FIELDS_BY_DEPTH = {
    0: ZApp,
    2: Framework,
    4: ServiceGroup,
}


def _valid_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = _FIELDS_BY_DEPTH.get(len(loc))
    if loc and loc[-1] == "resources":
        model = ResourceSpec
    elif len(loc) == 6 and loc[-2] == "ports":
        model = Port
    elif len(loc) == 6 and loc[-2] == "volumes":
        model = Volume
    if model is None:
        return []
    return list(model.__dataclass_fields__)


def semantic_faults(zapp: ZApp) -> Iterator[Fault]:
    """Yield the faults a type cannot express: counts, names, dependencies."""
    yield from _count_faults(zapp)
    yield from _name_faults(zapp)
    yield from _dependency_faults(zapp)


def _count_faults(zapp: ZApp) -> Iterator[Fault]:
    for f, framework in enumerate(zapp.frameworks):
        for s, group in enumerate(framework.services):
            if group.essential_count > group.total_count:
                yield Fault(
                    f"frameworks[{f}].services[{s}].essential_count",
                    f"essential_count ({group.essential_count}) must be at most "
                    f"total_count ({group.total_count})",
                )
    if zapp.essential_count == 0:
        yield Fault(
            "frameworks",
            "the ZApp has no essential service; give at least one group an "
            "essential_count of 1 or more",
        )
    if zapp.service_count > MAX_ZAPP_SERVICES:
        yield Fault(
            "frameworks",
            f"the ZApp has {zapp.service_count} services (the sum of every "
            f"group's total_count); a ZApp has at most {MAX_ZAPP_SERVICES} "
            "services: lower total_count",
        )


def _name_faults(zapp: ZApp) -> Iterator[Fault]:
    seen_frameworks: dict[str, int] = {}
    seen_groups: dict[str, str] = {}
    for f, framework in enumerate(zapp.frameworks):
        if framework.name in seen_frameworks:
            yield Fault(
                f"frameworks[{f}].name",
                f"duplicate framework name {framework.name!r} (also "
                f"frameworks[{seen_frameworks[framework.name]}]); names must be unique",
            )
        seen_frameworks.setdefault(framework.name, f)
        for s, group in enumerate(framework.services):
            path = f"frameworks[{f}].services[{s}]"
            if group.name in seen_groups:
                yield Fault(
                    f"{path}.name",
                    f"duplicate service name {group.name!r} (also "
                    f"{seen_groups[group.name]}); service names must be unique in "
                    "the ZApp",
                )
            seen_groups.setdefault(group.name, path)


def _dependency_faults(zapp: ZApp) -> Iterator[Fault]:
    framework_names = [framework.name for framework in zapp.frameworks]
    for f, framework in enumerate(zapp.frameworks):
        for d, name in enumerate(framework.depends_on):
            if name not in framework_names or name == framework.name:
                yield Fault(
                    f"frameworks[{f}].depends_on[{d}]",
                    f"unknown framework {name!r}; valid: "
                    f"{_choices(n for n in framework_names if n != framework.name)}",
                )
        group_names = [group.name for group in framework.services]
        for s, group in enumerate(framework.services):
            for d, name in enumerate(group.depends_on):
                if name not in group_names or name == group.name:
                    yield Fault(
                        f"frameworks[{f}].services[{s}].depends_on[{d}]",
                        f"unknown service {name!r} in framework {framework.name!r}; "
                        f"valid: {_choices(n for n in group_names if n != group.name)}",
                    )
    cycle = _find_cycle(zapp)
    if cycle:
        yield Fault(
            cycle[0][0],
            "dependency cycle: " + " -> ".join(name for _, name in cycle),
        )


def _choices(names: Iterator[str]) -> str:
    listed = ", ".join(repr(n) for n in names)
    return listed or "none"


def _find_cycle(zapp: ZApp) -> list[tuple[str, str]]:
    """Return one dependency cycle as (path, name) pairs, or [] when acyclic."""
    graph: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for f, framework in enumerate(zapp.frameworks):
        key = f"framework {framework.name}"
        paths[key] = f"frameworks[{f}].depends_on"
        graph[key] = [f"framework {n}" for n in framework.depends_on]
        names = {group.name for group in framework.services}
        for s, group in enumerate(framework.services):
            key = f"service {framework.name}/{group.name}"
            paths[key] = f"frameworks[{f}].services[{s}].depends_on"
            graph[key] = [
                f"service {framework.name}/{n}" for n in group.depends_on if n in names
            ]
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return [(paths[n], n) for n in found]
    return []


def start_order(zapp: ZApp) -> list[list[str]]:
    """Return the service groups in levels: each level depends only on earlier ones.

    A group depends on the groups its ``depends_on`` names and on every group of the
    frameworks its framework depends on. Groups of one level may start together;
    inside a level, ZApp order is kept. The ZApp must be valid (acyclic).
    """
    framework_groups = {
        framework.name: [group.name for group in framework.services]
        for framework in zapp.frameworks
    }
    needs: dict[str, set[str]] = {}
    for framework, group in zapp.groups():
        required = set(group.depends_on)
        for other in framework.depends_on:
            required.update(framework_groups[other])
        needs[group.name] = required

    levels: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(needs):
        level = [
            name for name, req in needs.items() if name not in done and req <= done
        ]
        if not level:
            raise ValueError(f"ZApp {zapp.name!r} has a dependency cycle")
        levels.append(level)
        done.update(level)
    return levels
