"""The `synth` command exports domains to a folder; `synth-preview` draws contact sheets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pydantic import ValidationError

from vadbench.sdk import CommandSpec, ConfigError

from .cache import discard, verify_domain, write_domain
from .dataset import SyntheticOptions
from .domains import DOMAIN_NAMES, TI, Domain
from .preview import write_previews
from .render import GeneratorParams

ALL = "all"
GENERATOR_ARGUMENTS = (
    "seed",
    "resolution",
    "frames_per_video",
    "train_videos",
    "test_videos",
    "ti_videos",
)


def _add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--domain",
        default=ALL,
        metavar="NAME|FILE",
        help=f"a built-in domain ({', '.join(DOMAIN_NAMES)}), 'ti' for the task-irrelevant set, "
        "'all' (default: the seven and ti), or a path to a domain .yaml file",
    )
    defaults = SyntheticOptions()
    for name in GENERATOR_ARGUMENTS:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"default {getattr(defaults, name)}",
        )
    parser.add_argument(
        "--anomaly-types",
        default=None,
        metavar="A,B,...",
        help=f"comma-separated subset of {','.join(defaults.anomaly_types)} (default: all)",
    )


def _generation(args: argparse.Namespace) -> tuple[GeneratorParams, list[Domain | str]]:
    """The generator parameters and the domains (Domain objects, or "ti") the arguments ask
    for, checked like the dataset's options; errors name the argument."""
    values: dict[str, object] = {
        name: getattr(args, name) for name in GENERATOR_ARGUMENTS if getattr(args, name) is not None
    }
    if args.anomaly_types is not None:
        values["anomaly_types"] = tuple(
            t.strip() for t in args.anomaly_types.split(",") if t.strip()
        )
    names = [*DOMAIN_NAMES, TI] if args.domain == ALL else [args.domain]
    domains: list[Domain | str] = []
    for name in names:
        try:
            options = SyntheticOptions.model_validate({**values, "domain": name})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"--{where.replace('_', '-')}: {message}") from error
        domains.append(options.camera() or TI)
    return options.generator_params(), domains


def configure_synth(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write <domain>/ into")
    _add_generator_arguments(parser)
    parser.add_argument(
        "--force", action="store_true", help="replace an existing folder made otherwise"
    )


def run_synth(args: argparse.Namespace, registry: object) -> int:
    """Write each chosen domain to ``<out>/<domain>`` with its manifest, atomically (the plugin
    registry is not needed)."""
    params, domains = _generation(args)
    for domain in domains:
        folder = args.out / (domain.name if isinstance(domain, Domain) else domain)
        if folder.exists():
            problem = verify_domain(folder, params, domain)
            if problem is None:
                print(f"{folder}: already holds this export")
                continue
            if not args.force:
                raise ConfigError(
                    f"{folder} exists but is not this export ({problem}); "
                    "pass --force to replace it"
                )
            discard(folder)
        started = time.perf_counter()
        write_domain(folder, params, domain)
        print(f"wrote {folder} in {time.perf_counter() - started:.1f}s")
    return 0


def configure_preview(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for <domain>.png sheets")
    _add_generator_arguments(parser)


def run_preview(args: argparse.Namespace, registry: object) -> int:
    """Render contact sheets in memory and save one PNG per domain (no registry needed)."""
    params, domains = _generation(args)
    for path in write_previews(args.out, domains, params):
        print(f"wrote {path}")
    return 0


def command_specs() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="synth",
            help="export synthetic domains (FFP/MNAD frames packaging) to a folder",
            configure=configure_synth,
            run=run_synth,
        ),
        CommandSpec(
            name="synth-preview",
            help="write a PNG contact sheet of normal and abnormal frames per synthetic domain",
            configure=configure_preview,
            run=run_preview,
        ),
    ]
