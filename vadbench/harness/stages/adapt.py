"""The adapt stage of the k-shot protocol: a copy of the trained model adapted on k clips of
the target's training split (never its test split), drawn from the cell's seed."""

from __future__ import annotations

from vadbench.harness.devices import seed_everything
from vadbench.harness.planning import Cell, Target
from vadbench.harness.stages.context import StageContext
from vadbench.sdk.contracts import Adaptable, FitContext, Method, VadbenchError
from vadbench.sdk.protocol import draw_support


def adapted(cell: Cell, target: Target, method: Method, ctx: StageContext) -> Method:
    assert target.shots is not None
    if not isinstance(method, Adaptable):
        raise VadbenchError(f"model {cell.model.name!r} has no adapt(support, ctx) for k-shot")
    train_split = ctx.datasets[target.dataset].dataset.source("train")
    support = draw_support(train_split, target.shots, method.context_frames + 1, seed=cell.seed)
    work_dir = ctx.store.target_dir(cell.id, target.key)
    work_dir.mkdir(parents=True, exist_ok=True)
    context = FitContext(
        device=ctx.device,
        seed=cell.seed,
        progress=ctx.progress,
        checkpoint_dir=work_dir,
        precision=ctx.precision,
    )
    seed_everything(cell.seed)
    with ctx.training_precision():
        return method.adapt(support, context)
