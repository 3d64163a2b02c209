"""Finding plugins and collecting what they register.

Plugins come from the ``vadbench`` entry-point group (the built-ins included: they are declared in
vadbench's own pyproject exactly like a third party's), from local ``.py`` files named by a
matrix's ``plugins:`` list or ``--plugin``, and nothing else.

``VADBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the entry points of vadbench's own distribution;
``VADBENCH_BLOCK_PLUGINS=a,b`` (or ``block_plugins`` in a matrix, or ``--block``) turns single
plugins off, built-ins included.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy

from vadbench.harness.config import DatasetEntry, read_matrix, validate_options
from vadbench.sdk import hooks as hookspecs
from vadbench.sdk.contracts import (
    BenchmarkSpec,
    CheckpointSpec,
    CommandSpec,
    ConfigError,
    Dataset,
    DatasetSpec,
    ExecutorSpec,
    MetricSpec,
    ModelSpec,
    PluginError,
    ReporterSpec,
)
from vadbench.sdk.validation import did_you_mean
from vadbench.sdk.workers import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP

OWN_DISTRIBUTION = "vadbench"

SpecT = TypeVar(
    "SpecT",
    DatasetSpec,
    ModelSpec,
    MetricSpec,
    ReporterSpec,
    ExecutorSpec,
    CommandSpec,
    BenchmarkSpec,
    CheckpointSpec,
)


@dataclass(frozen=True)
class LoadedPlugin:
    """One loaded plugin, as ``vadbench plugins`` lists it."""

    name: str
    source: str
    version: str
    hooks: tuple[str, ...]


@dataclass
class Catalog(Generic[SpecT]):
    """The registered things of one kind, by name, with close-match suggestions on a miss."""

    kind: str
    items: dict[str, SpecT] = field(default_factory=dict)

    def add(self, spec: SpecT) -> None:
        if spec.name in self.items:
            earlier = self.items[spec.name].origin
            raise PluginError(
                f"plugin {spec.origin!r} registers {self.kind} {spec.name!r}, "
                f"which plugin {earlier!r} already registered"
            )
        self.items[spec.name] = spec

    def get(self, name: str, where: str = "") -> SpecT:
        if name in self.items:
            return self.items[name]
        hint = did_you_mean(name, self.items)
        known = ", ".join(sorted(self.items)) or "none"
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown {self.kind} {name!r}{hint} (registered: {known})")

    def __iter__(self) -> Iterator[SpecT]:
        return iter(self.items[name] for name in sorted(self.items))


@dataclass
class Registry:
    """Everything the loaded plugins registered."""

    datasets: Catalog[DatasetSpec] = field(default_factory=lambda: Catalog("dataset"))
    models: Catalog[ModelSpec] = field(default_factory=lambda: Catalog("model"))
    metrics: Catalog[MetricSpec] = field(default_factory=lambda: Catalog("metric"))
    reporters: Catalog[ReporterSpec] = field(default_factory=lambda: Catalog("reporter"))
    executors: Catalog[ExecutorSpec] = field(default_factory=lambda: Catalog("executor"))
    commands: Catalog[CommandSpec] = field(default_factory=lambda: Catalog("command"))
    benchmarks: Catalog[BenchmarkSpec] = field(default_factory=lambda: Catalog("benchmark"))
    checkpoints: Catalog[CheckpointSpec] = field(default_factory=lambda: Catalog("checkpoint"))
    plugins: list[LoadedPlugin] = field(default_factory=list)

    def open_dataset(self, name: str, entry: DatasetEntry, file: Path) -> Dataset:
        """The dataset a matrix's ``datasets.<name>`` entry describes, its options validated;
        every error names the file and the entry."""
        spec = self.datasets.get(entry.plugin, where=f"{file.name}: datasets.{name}.plugin")
        options = validate_options(spec.options, entry.options, file, ("datasets", name, "options"))
        try:
            return spec.open(options)
        except ConfigError as error:
            raise ConfigError(f"{file.name}: datasets.{name}: {error}") from error

    def open_matrix_dataset(self, matrix: Path, name: str) -> Dataset:
        """One dataset a matrix file defines, for commands that work on data outside a run."""
        _, parsed = read_matrix(matrix)
        if name not in parsed.datasets:
            hint = did_you_mean(name, parsed.datasets)
            raise ConfigError(f"{matrix.name}: datasets: unknown dataset {name!r}{hint}")
        return self.open_dataset(name, parsed.datasets[name], matrix)

    def catalog(self, kind: str) -> Catalog[Any]:
        catalogs: dict[str, Catalog[Any]] = {
            "datasets": self.datasets,
            "models": self.models,
            "metrics": self.metrics,
            "reporters": self.reporters,
            "executors": self.executors,
            "commands": self.commands,
            "benchmarks": self.benchmarks,
            "checkpoints": self.checkpoints,
        }
        return catalogs[kind]


HOOK_TO_KIND = {
    "vadbench_register_datasets": "datasets",
    "vadbench_register_models": "models",
    "vadbench_register_metrics": "metrics",
    "vadbench_register_reporters": "reporters",
    "vadbench_register_executors": "executors",
    "vadbench_register_commands": "commands",
    "vadbench_register_benchmarks": "benchmarks",
    "vadbench_register_checkpoints": "checkpoints",
}
KIND_TO_SPEC: dict[str, type[Any]] = {
    "datasets": DatasetSpec,
    "models": ModelSpec,
    "metrics": MetricSpec,
    "reporters": ReporterSpec,
    "executors": ExecutorSpec,
    "commands": CommandSpec,
    "benchmarks": BenchmarkSpec,
    "checkpoints": CheckpointSpec,
}


def _blocked_names(extra: Iterable[str]) -> set[str]:
    from_env = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
    return from_env | set(extra)


def _entry_points(autoload: bool) -> list[md.EntryPoint]:
    points = []
    for entry_point in md.entry_points(group=ENTRY_POINT_GROUP):
        dist_name = entry_point.dist.name if entry_point.dist else ""
        if autoload or dist_name == OWN_DISTRIBUTION:
            points.append(entry_point)
    return sorted(points, key=lambda ep: ep.name)


def _import_local_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    module_name = f"vadbench_local_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise PluginError(f"plugin file {path} raised on import: {error!r}") from error
    return module


def load_plugins(local_files: Iterable[Path] = (), blocked: Iterable[str] = ()) -> Registry:
    """Import every plugin, call its hooks and return what they registered.

    A plugin that fails to import or raises in a hook is reported by name as a PluginError.
    """
    manager = pluggy.PluginManager("vadbench")
    manager.add_hookspecs(hookspecs)
    blocked_names = _blocked_names(blocked)
    autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0")

    sources: dict[str, tuple[str, str]] = {}
    for entry_point in _entry_points(autoload):
        if entry_point.name in blocked_names:
            continue
        dist = entry_point.dist
        try:
            module = entry_point.load()
        except Exception as error:
            raise PluginError(
                f"plugin {entry_point.name!r} ({entry_point.value}) raised on import: {error!r}"
            ) from error
        _register(manager, module, entry_point.name)
        sources[entry_point.name] = (
            f"entry point of {dist.name if dist else '?'}",
            dist.version if dist else "",
        )
    for path in local_files:
        name = f"file:{Path(path).name}"
        if name in blocked_names or Path(path).stem in blocked_names:
            continue
        _register(manager, _import_local_file(Path(path)), name)
        sources[name] = (str(path), "")

    known_names = [ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)]
    known_names += [f"file:{Path(path).name}" for path in local_files]
    known_names += [Path(path).stem for path in local_files]
    for name in sorted(blocked_names - set(known_names)):
        where = "VADBENCH_BLOCK_PLUGINS" if name not in set(blocked) else "--block/block_plugins"
        raise PluginError(
            f"{where}: no plugin named {name!r} to block{did_you_mean(name, known_names)}"
            f" (see vadbench plugins)"
        )
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(
            f"plugin {manager.get_name(error.plugin)!r} does not match the hook contract: {error}"
        ) from error

    registry = Registry()
    for hook_name, kind in HOOK_TO_KIND.items():
        catalog = registry.catalog(kind)
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            _call_hook(impl.function, impl.plugin_name, hook_name, catalog)

    for name, (source, version) in sorted(sources.items()):
        plugin = manager.get_plugin(name)
        hooks = tuple(
            caller.name for caller in manager.get_hookcallers(plugin) or () if plugin is not None
        )
        registry.plugins.append(LoadedPlugin(name, source, version, tuple(sorted(hooks))))
    return registry


def _register(manager: pluggy.PluginManager, module: ModuleType, name: str) -> None:
    try:
        manager.register(module, name=name)
    except ValueError as error:
        raise PluginError(f"plugin {name!r} cannot be registered: {error}") from error
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {name!r} does not match the hook contract: {error}") from error


def _call_hook(
    function: Callable[..., Any], plugin_name: str, hook_name: str, catalog: Catalog[Any]
) -> None:
    expected = KIND_TO_SPEC[HOOK_TO_KIND[hook_name]]

    def register(spec: Any) -> None:
        if not isinstance(spec, expected):
            raise PluginError(
                f"plugin {plugin_name!r} registered a {type(spec).__name__} in {hook_name}; "
                f"that hook takes {expected.__name__}(...) (docs/plugins.md)"
            )
        catalog.add(replace(spec, origin=plugin_name))

    try:
        function(register=register)
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(f"plugin {plugin_name!r} raised in {hook_name}: {error!r}") from error
