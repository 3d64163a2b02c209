"""The checkpoint zoo: trained models shipped with a package and loaded from a matrix with
``models.<name>.checkpoint: zoo:NAME`` instead of being trained in the run.

A zoo entry is a folder that a plugin registers (``vadbench_register_checkpoints``) holding
``zoo.json`` and one checkpoint folder per seed (``seed-<n>``). ``zoo.json`` says what was
trained, on which data and until when (the model's plugin, version and options, the train and
auxiliary data's fingerprints, the budget and held-out share), how to reproduce it (the exact
command and the run's cell hash) and the SHA-256 of every file it ships, so a damaged or edited
file is refused. A matrix cell takes an entry only when its model and its source data are the
ones the entry was trained with: a zoo model is never scored as if it were something else.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vadbench.sdk.contracts import CheckpointSpec, ConfigError
from vadbench.sdk.files import atomic_write_json, file_sha256, folder_checksums, why_unreadable

ZOO_RECORD = "zoo.json"
ZOO_PREFIX = "zoo:"
ZOO_FORMAT = 1


def seed_folder_name(seed: int) -> str:
    return f"seed-{seed}"


@dataclass(frozen=True)
class ZooSeed:
    """One seed's checkpoint in an entry (``reference``: ``zoo:NAME``): its folder, the hash of
    the cell that trained it and its files' checksums."""

    reference: str
    folder: Path
    cell_hash: str
    files: Mapping[str, str]

    def identity(self) -> dict[str, Any]:
        """What a cell that loads this checkpoint hashes instead of its budget."""
        return {"cell": self.cell_hash, "files": dict(sorted(self.files.items()))}


@dataclass(frozen=True)
class ZooEntry:
    """A zoo entry as its ``zoo.json`` describes it."""

    name: str
    folder: Path
    record: Mapping[str, Any]

    @property
    def reference(self) -> str:
        return f"{ZOO_PREFIX}{self.name}"

    @property
    def model(self) -> Mapping[str, Any]:
        return dict(self.record["model"])

    @property
    def held_out(self) -> Mapping[str, Any]:
        return dict(self.record["held_out"])

    @property
    def command(self) -> str:
        return str(self.record["command"])

    def seeds(self) -> list[int]:
        return sorted(int(seed) for seed in self.record["seeds"])

    def check_model(
        self, plugin: str, version: str, options: Mapping[str, Any], where: str
    ) -> None:
        """Refuse a model other than the one the entry holds: another plugin, version or
        option."""
        held = self.model
        if held["plugin"] != plugin:
            raise ConfigError(
                f"{where}: {self.reference} holds a {held['plugin']!r} model, not {plugin!r}"
            )
        if held["version"] != version:
            raise ConfigError(
                f"{where}: {self.reference} was trained with {plugin} version "
                f"{held['version']}; the installed plugin is version {version} (train it anew: "
                f"{self.command})"
            )
        differing = sorted(
            name
            for name in set(held["options"]) | set(options)
            if held["options"].get(name) != options.get(name)
        )
        if differing:
            raise ConfigError(
                f"{where}: {self.reference} was trained with other options "
                f"({', '.join(differing)}); use its preset {held.get('preset')!r} without "
                "overrides, or train the model in the run"
            )

    def seed_checkpoint(
        self,
        seed: int,
        train: Mapping[str, Any],
        aux: Mapping[str, Any] | None,
        adaptation: bool,
        where: str,
    ) -> ZooSeed:
        """The checkpoint a cell of ``seed`` trained on ``train`` (+ ``aux``) loads, after
        checking the entry was trained on those data, without k-shot meta-training, with that
        seed."""
        if dict(self.record["train"]) != dict(train):
            raise ConfigError(
                f"{where}: {self.reference} was trained on other data than this row's train "
                f"dataset ({_described(self.record['train'])}); a zoo model only serves the "
                "source it learned"
            )
        held_aux = self.record.get("aux")
        if (dict(held_aux) if held_aux else None) != (dict(aux) if aux else None):
            raise ConfigError(
                f"{where}: {self.reference} was trained with auxiliary data "
                f"{_described(held_aux) if held_aux else 'none'}; this row has "
                f"{_described(aux) if aux else 'none'}"
                + (" (other options or data)" if held_aux and aux else "")
            )
        if adaptation and not self.record.get("adaptation", False):
            raise ConfigError(
                f"{where}: {self.reference} was trained without k-shot meta-training; a model "
                "evaluated under the k-shot protocol trains in the run"
            )
        seeds = self.record["seeds"]
        if str(seed) not in seeds:
            raise ConfigError(
                f"{where}: {self.reference} has checkpoints for seeds "
                f"{self.seeds()}, not for seed {seed}"
            )
        found = seeds[str(seed)]
        folder = self.folder / seed_folder_name(seed)
        return ZooSeed(self.reference, folder, found["cell_hash"], found["files"])


def _described(fingerprint: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in fingerprint.items() if k in ("plugin", "domain", "root", "name")}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "see zoo.json"


def zoo_name(reference: str) -> str:
    """NAME of a matrix's ``zoo:NAME``."""
    return reference.removeprefix(ZOO_PREFIX)


def read_entry(spec: CheckpointSpec) -> ZooEntry:
    """The entry a registered checkpoint folder holds; a missing or malformed ``zoo.json`` is a
    ConfigError naming it."""
    path = spec.folder / ZOO_RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not a readable zoo record ({error})") from error
    missing = [
        key
        for key in ("model", "train", "seeds", "held_out", "command")
        if not isinstance(record, dict) or key not in record
    ]
    if missing:
        raise ConfigError(f"{path}: zoo record lacks {', '.join(missing)}")
    if record.get("format") != ZOO_FORMAT:
        raise ConfigError(f"{path}: zoo format {record.get('format')!r}, expected {ZOO_FORMAT}")
    return ZooEntry(spec.name, spec.folder, record)


def verified_files(checkpoint: ZooSeed) -> None:
    """Refuse a zoo checkpoint whose files differ from the checksums its record ships."""
    for name, expected in checkpoint.files.items():
        path = checkpoint.folder / name
        if not path.is_file():
            raise ConfigError(f"{path}: missing from the zoo checkpoint")
        try:
            digest = file_sha256(path)
        except OSError as error:
            raise ConfigError(
                f"{path}: cannot read the zoo checkpoint ({why_unreadable(error)})"
            ) from None
        if digest != expected:
            raise ConfigError(
                f"{path}: its SHA-256 differs from the zoo record's; the file is damaged or was "
                "replaced (reinstall the package, or export the checkpoint again)"
            )


# What a zoo checkpoint ships of a cell's checkpoint folder: not the completion marker (a run
# writes its own), not snapshots or figures along the way.
LEFT_BEHIND = ("fit.json", "snapshots", "figures")


def export_checkpoint(
    checkpoint: Path,
    job: Mapping[str, Any],
    into: Path,
    name: str,
    description: str,
    command: str,
) -> Path:
    """Add a finished cell's checkpoint to a zoo folder as entry ``name`` (its seed's folder,
    beside any other seeds already there) and return the entry's folder. ``job`` is the cell's
    job (``job.json``) with the model's plugin version added to its ``model``."""
    entry = into / name
    seed = int(job["seed"])
    target = entry / seed_folder_name(seed)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(checkpoint, target, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    record_path = entry / ZOO_RECORD
    record: dict[str, Any] = json.loads(record_path.read_text()) if record_path.is_file() else {}
    datasets = job["datasets"]
    settings = job["settings"]
    described = {
        "format": ZOO_FORMAT,
        "name": name,
        "description": description,
        "model": {
            "plugin": job["model"]["plugin"],
            "version": job["model"]["version"],
            "preset": job["model"]["preset"],
            "options": job["model"]["options"],
        },
        "train": datasets[job["train"]]["fingerprint"],
        "aux": datasets[job["aux"]]["fingerprint"] if job["aux"] else None,
        "adaptation": job["adaptation"],
        "device": settings["device"],
        "precision": settings["precision"],
        "budget": settings["budget"],
        "held_out": settings["held_out"],
        "command": command,
    }
    for key in ("model", "train", "aux", "budget", "held_out"):
        if key in record and record[key] != described[key]:
            raise ConfigError(
                f"{record_path}: seed {seed} was trained with another {key} than the entry's "
                "other seeds; export it under another name"
            )
    seeds = dict(record.get("seeds", {}))
    seeds[str(seed)] = {"cell_hash": job["cell_hash"], "files": folder_checksums(target)}
    atomic_write_json(record_path, {**described, "seeds": dict(sorted(seeds.items()))})
    return entry
