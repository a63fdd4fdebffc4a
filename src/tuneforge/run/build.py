"""`build(cfg, run_dir)`: one place that turns a composed config into data, model, task, trainer.

Train, eval, predict and the tests all call it. It takes the run folder as an argument, so it
never reads Hydra's global state.
"""

import copy
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from tuneforge.errors import CheckpointError, ConfigError, DataError
from tuneforge.run.device import runnable_optimizer, runnable_precision, use_tf32
from tuneforge.run.files import write_json
from tuneforge.run.logs import route_library_logs
from tuneforge.run.validate import TRAIN_SCHEMA, validate

log = logging.getLogger(__name__)


@dataclass
class Built:
    """Everything a Trainer verb needs, and the resolved config they were built from."""

    datamodule: Any
    model: Any
    task: Any
    trainer: Any
    config: dict
    monitored: Any  # MonitoredBest: the best value of the monitored metric, once fitted


def _instantiate(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """hydra's instantiate, with an argument error turned into one line naming the config key."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        # _convert_="all": objects get plain lists and dicts, never OmegaConf containers.
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as ex:
        cause = ex.__cause__ or ex
        # ModuleNotFoundError: an optional package missing (logger=mlflow without mlflow)
        if isinstance(
            cause, (ValueError, TypeError, MisconfigurationException, ModuleNotFoundError)
        ):
            raise ConfigError(f"{key}: {str(cause).splitlines()[0]}") from ex
        raise


def _head_reset_reason(finetune: DictConfig, spec: dict) -> str | None:
    from tuneforge.finetune.weights import stored_class_names

    setting = finetune.get("reset_head", "auto")
    if setting is True:
        return "finetune.reset_head=true"
    if setting != "auto" or not spec.get("class_names"):
        return None
    theirs, ours = stored_class_names(finetune.checkpoint), [str(n) for n in spec["class_names"]]
    if theirs and len(theirs) == len(ours) and theirs != ours:
        return (
            f"the weights were trained on other classes ({', '.join(theirs[:3])}, ...) than "
            f"this data's ({', '.join(ours[:3])}, ...); finetune.reset_head=false keeps it"
        )
    return None


def _check_accelerator(trainer: DictConfig) -> None:
    """A GPU trainer on a machine without a GPU: say so and how to train on the CPU, where
    Lightning would only say that no backend was found."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator} but torch sees no GPU on this machine; "
                "train on the CPU with trainer=cpu, or check the driver and CUDA_VISIBLE_DEVICES"
            )


QUANTIZATION_KEYS = ("quantization", "double_quantization", "compute_dtype")


def _quantized_base(model: DictConfig, finetune: DictConfig, trainer: DictConfig) -> DictConfig:
    """`model` with `finetune.quantization`'s 4-bit loading (QLoRA) added; `model` itself when
    the base is not quantized.

    Raises:
        ConfigError: where QLoRA cannot run: a model that is no pretrained transformers LM, a
            strategy other than LoRA, or no CUDA GPU (bitsandbytes' 4-bit layers are made for one).
    """
    quantization = finetune.get("quantization")
    if not quantization:
        return model
    if not str(model.get("_target_", "")).endswith("HFCausalLM"):
        raise ConfigError(
            f"finetune.quantization={quantization} loads a pretrained transformers LM's base in 4 "
            "bits; choose model=hf_causal_lm model.path=FOLDER"
        )
    if finetune.get("strategy") != "lora":
        raise ConfigError(
            f"finetune.quantization={quantization}: a 4-bit base cannot train, only LoRA's "
            f"adapters on it; use finetune=qlora (strategy lora), not {finetune.get('strategy')}"
        )
    import torch

    if not torch.cuda.is_available() or str(trainer.get("accelerator")) == "cpu":
        raise ConfigError(
            "finetune=qlora loads the base in 4 bits through bitsandbytes, which needs a CUDA GPU "
            "and this run has none; use finetune=lora (the same adapters on a full-precision base)"
        )
    model = copy.deepcopy(model)
    with open_dict(model):
        for key in QUANTIZATION_KEYS:
            model[key] = finetune.get(key)
    return model


def _try_optimizer(optimizer: Any, model: Any) -> None:
    """Build the optimizer once now, so a bad argument fails before training, not at fit()."""
    from tuneforge.tasks.param_groups import decay_groups

    try:
        optimizer(decay_groups(model))
    except (ValueError, TypeError, IndexError) as ex:
        raise ConfigError(f"optimizer: {str(ex).splitlines()[0]}") from ex


def _data_inputs(target: str, node: DictConfig, spec: dict[str, Any], role: str) -> dict[str, Any]:
    """The data facts that `target`'s constructor takes (input_shape, num_classes, ...).

    A regression table's `num_outputs` sizes a model's head, which our models call num_classes.

    Raises:
        ConfigError: when the constructor needs a fact this data does not tell.
    """
    from hydra.utils import get_object

    params = inspect.signature(get_object(target)).parameters
    facts = dict(spec)
    if role == "model" and "num_outputs" in spec:
        facts.setdefault("num_classes", spec["num_outputs"])
    takes = {name: value for name, value in facts.items() if name in params}
    needs = {
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind is p.POSITIONAL_OR_KEYWORD
        and name not in node
        and name not in {"model", "optimizer"}
    }
    missing = sorted(needs - takes.keys())
    if missing:
        kind = f" ({spec['task']} data)" if "task" in spec else ""
        fix = (
            f"choose task={spec['task']}"
            if role == "task" and "task" in spec
            else (f"choose a {role} that fits this data")
        )
        raise ConfigError(
            f"{role} {target} needs {', '.join(missing)}, which the data{kind} does not "
            f"provide; {fix}"
        )
    return takes


def _batch_mixing(augmentation: DictConfig, spec: dict[str, Any]) -> Any:
    """MixUp/CutMix from `augmentation.mixup_alpha` and `cutmix_alpha`, for class labels only."""
    from tuneforge.data.batch_transforms import mix_batches

    alphas = augmentation.get("mixup_alpha", 0.0), augmentation.get("cutmix_alpha", 0.0)
    if not any(alphas):
        return None
    if "num_classes" not in spec:
        raise ConfigError(
            "augmentation.mixup_alpha and cutmix_alpha mix class labels; set them to 0 for "
            f"{spec.get('task', 'this')} data"
        )
    return mix_batches(spec["num_classes"], *alphas)


def _load_pretrained(model: Any, finetune: DictConfig, spec: dict, run_dir: Path) -> None:
    """Load `finetune.checkpoint` into `model`; show the load report and keep it as
    load_report.json in the run folder, also when the weights are refused.

    The head starts fresh where its shape changes, with finetune.reset_head=true, and (auto)
    where the checkpoint says it was trained on other classes than this data's, in the same
    number: five classes are not the same five.

    Raises:
        CheckpointError: when the weights cannot be read or do not fit (finetune.strict).
    """
    from rich.console import Console

    from tuneforge.finetune import WeightsError, load_pretrained

    try:
        report = load_pretrained(
            model,
            finetune.checkpoint,
            key_map=finetune.get("key_map") or None,
            strict=bool(finetune.get("strict")),
            head=finetune.get("head"),
            reset_head=_head_reset_reason(finetune, spec),
        )
    except WeightsError as ex:
        if getattr(ex, "report", None) is not None:
            Console(stderr=True).print(ex.report.table())
            write_json(run_dir / "load_report.json", ex.report.to_dict())
        raise CheckpointError(f"finetune.checkpoint: {str(ex).splitlines()[0]}") from ex
    Console().print(report.table())
    write_json(run_dir / "load_report.json", report.to_dict())


def add_adapters(model: Any, finetune: DictConfig | dict | None) -> None:
    """With `finetune.strategy=lora`, wrap the layers `finetune.lora_targets` finds in peft's
    LoRA layers. Training adds them after loading the pretrained weights, which keep the plain
    model's names; eval, predict, generate and export add them again to a trained run's rebuilt
    model before its weights load, since they are layers of that model.

    Raises:
        ConfigError: for impossible settings or a pattern that finds no layer to adapt.
    """
    if not finetune or finetune.get("strategy") != "lora":
        return
    from tuneforge.finetune import add_lora

    given = {arg: finetune.get(f"lora_{arg}") for arg in ("rank", "alpha", "dropout", "targets")}
    given["head"] = finetune.get("head")
    try:
        names = add_lora(model, **{arg: v for arg, v in given.items() if v is not None})
    except ValueError as ex:
        raise ConfigError(f"finetune.{str(ex).splitlines()[0]}") from ex
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    log.info("LoRA on %d layers: %s", len(names), shown)


def _plan_finetune(model: Any, finetune: DictConfig) -> Any:
    """Freeze and scale learning rates as `finetune.strategy` says; log what trains."""
    from tuneforge.finetune import strategies

    strategy = finetune.get("strategy") or "full"
    try:
        decided = strategies.plan(
            model,
            strategy,
            freeze_groups=finetune.get("freeze_groups") or 0,
            freeze_patterns=finetune.get("freeze_patterns") or (),
            lr_decay=finetune.get("lr_decay") or 1.0,
            unfreeze_every=finetune.get("unfreeze_every") or 1,
            head=finetune.get("head"),
        )
    except ValueError as ex:
        raise ConfigError(f"finetune.{str(ex).splitlines()[0]}") from ex
    strategies.apply(model, decided)
    if strategy != "full":
        if not finetune.get("checkpoint") and not getattr(model, "pretrained", False):
            raise ConfigError(
                f"finetune.strategy={strategy} freezes pretrained weights, but none are loaded; "
                "set finetune.checkpoint=PATH, or choose a pretrained model (model=hf_causal_lm)"
            )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        scales = sorted(set(decided.lr_scales.values()))
        log.info(
            "Fine-tuning (%s): %s parameters train, %s frozen%s",
            strategy,
            f"{trainable:,}",
            f"{frozen:,}",
            f"; lr scales {', '.join(f'{s:.3g}' for s in scales)}" if scales else "",
        )
    return decided


def _without_logging_callbacks(callbacks: list) -> list:
    """Drop callbacks that only write to a logger, so `logger=none` composes with any callbacks."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    kept = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if len(kept) < len(callbacks):
        log.info("No logger: learning rates are not logged")
    return kept


def _lightning_defaults(trainer: DictConfig, callbacks: list) -> dict[str, bool]:
    """Switch off what Lightning adds by itself when the callbacks leave it out: a checkpoint
    (`callbacks=none` promises none: the run tests its last weights) and a progress bar. A
    `trainer.enable_*` the user set is theirs."""
    from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar

    kinds = {"enable_checkpointing": ModelCheckpoint, "enable_progress_bar": ProgressBar}
    return {
        key: False
        for key, kind in kinds.items()
        if key not in trainer and not any(isinstance(c, kind) for c in callbacks)
    }


def _plain(spec: dict[str, Any]) -> dict[str, Any]:
    """The data spec as checkpoint-safe plain data: tuples become lists, numpy numbers Python's."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value.item() if hasattr(value, "item") else value

    return {key: plain(value) for key, value in spec.items()}


def build_model(node: DictConfig, spec: dict[str, Any]) -> Any:
    """The model `node` describes, sized by the data's `spec` (input shape, class count, ...).

    Raises:
        ConfigError: when the data is a table (one-dimensional rows) that the model cannot take:
            an image model fails to unpack the shape, or only at its first batch.
    """
    inputs = _data_inputs(node._target_, node, spec, "model")
    if len(spec.get("input_shape", ())) != 1:
        return _instantiate(node, "model", **inputs)
    import torch

    try:
        model = _instantiate(node, "model", **inputs)
        training = model.training
        with torch.no_grad():  # in eval mode: no running statistic moves
            model.eval()(torch.zeros(2, *spec["input_shape"]))
        return model.train(training)
    except (ConfigError, RuntimeError, ValueError, TypeError, IndexError) as ex:
        name = node._target_.rsplit(".", 1)[-1]
        if name == "MLP":  # it takes tables: the problem is another
            raise
        raise ConfigError(
            f"model: this data is a table, whose rows {name} cannot take; choose model=mlp"
        ) from ex


def _model_with_tokenizer(node: DictConfig, datamodule: Any) -> Any:
    """For data that needs a pretrained model's tokenizer (`needs_tokenizer`), the model, its
    tokenizer handed to the data; None for any other data, whose model the data sizes.

    Raises:
        ConfigError: when the model brings no tokenizer (it is not a pretrained LM).
    """
    from hydra.utils import get_object

    if not getattr(datamodule, "needs_tokenizer", False):
        return None
    if not hasattr(get_object(node._target_), "tokenizer"):
        raise ConfigError(
            f"{type(datamodule).__name__} is tokenized by a pretrained model's own tokenizer, "
            f"which {node._target_} has not; choose model=hf_causal_lm model.path=FOLDER"
        )
    model = build_model(node, {})
    datamodule.use_tokenizer(model.tokenizer)
    return model


def with_run_dir(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """A copy of `cfg` whose `paths.output_dir` (the run folder) is `run_dir`."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.setdefault("paths", {})
        cfg.paths.output_dir = str(run_dir)
    return cfg


def build(
    cfg: DictConfig, run_dir: str | Path, data_state: dict | None = None, splits: bool = True
) -> Built:
    """Build data, model, task and trainer for a run whose artifacts go to `run_dir`.

    `data_state` is what a trained run's DataModule fitted (statistics, vocabularies), read back
    from its checkpoint, so eval and predict transform data exactly as training did.
    `splits=False` is for predicting on given inputs alone: a DataModule that `data_state`
    restored is not set up, so its data need not be there. One that stored nothing (digits,
    whose statistics come from its data) is set up all the same.

    Raises:
        ConfigError: with every problem of the config, before anything is built.
    """
    import lightning as L

    from tuneforge import __version__
    from tuneforge.callbacks import (
        GradualUnfreeze,
        MonitoredBest,
        NonFiniteLoss,
        ResumeState,
        StoreRunConfig,
        TrialPruning,
    )
    from tuneforge.run.checkpoint_io import AtomicCheckpointIO
    from tuneforge.run.nodes import check_nodes

    route_library_logs()
    run_dir = Path(run_dir)
    cfg = with_run_dir(cfg, run_dir)
    config = validate(cfg, TRAIN_SCHEMA)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    # 1. Data: its setup() tells the model what it needs (input shape, class count).
    augmentation = cfg.get("augmentation", {}).get("train", [])
    transforms = [_instantiate(t, f"augmentation.train[{i}]") for i, t in enumerate(augmentation)]
    datamodule = _instantiate(cfg.data, "data", train_transforms=transforms)
    if data_state is not None:
        try:
            datamodule.load_state_dict(data_state)
        except (ValueError, KeyError, TypeError) as ex:  # a checkpoint's state is a stranger's
            raise CheckpointError(
                f"the checkpoint's data state does not fit {type(datamodule).__name__} "
                f"({str(ex).splitlines()[0] if str(ex) else type(ex).__name__}); point ckpt_path "
                "at a checkpoint that `tuneforge train` wrote"
            ) from ex
    # A pretrained language model brings its vocabulary: chat data is tokenized by the model's
    # own tokenizer, so that model is built first and hands it over.
    finetune = cfg.get("finetune") or {}
    model_node = _quantized_base(cfg.model, finetune, cfg.trainer)
    model = _model_with_tokenizer(model_node, datamodule)
    try:
        if splits or not data_state:
            datamodule.prepare_data()
            datamodule.setup("fit")
    except (FileNotFoundError, ValueError) as ex:  # missing, empty or damaged data
        raise DataError(f"data: {str(ex).splitlines()[0]}") from ex
    spec = datamodule.spec

    # 2. Model: a plain nn.Module sized by the data.
    if model is None:
        model = build_model(model_node, spec)

    # 3. Fine-tuning: pretrained weights loaded into the model, with a report of what fitted;
    # then LoRA's adapters, where asked for; then the strategy decides what trains, and how fast.
    if finetune.get("checkpoint"):
        _load_pretrained(model, finetune, spec, run_dir)
    add_adapters(model, finetune)
    decided = _plan_finetune(model, finetune)
    if cfg.get("compile"):
        # In place: parameter names stay the model's own, so checkpoints load into an
        # uncompiled model (torch.compile(model) would prefix them with _orig_mod.).
        model.compile()

    # 4. Task: loss, metrics, and the optimizer over the trainable parameter groups.
    optimizer = _instantiate(runnable_optimizer(cfg.optimizer, cfg.trainer), "optimizer")
    _try_optimizer(optimizer, model)
    scheduler = _instantiate(cfg.scheduler, "scheduler") if cfg.get("scheduler") else None
    if cfg.get("channels_last") and "channels_last" not in cfg.task:
        raise ConfigError(
            f"channels_last=true is for convolutional models on images (task=classification); "
            f"{cfg.task._target_.rsplit('.', 1)[-1]} takes no images: leave channels_last=false"
        )
    task_inputs = _data_inputs(cfg.task._target_, cfg.task, spec, "task")
    mixing = _batch_mixing(cfg.get("augmentation", {}), spec)
    if mixing is not None:
        task_inputs["batch_transform"] = mixing
    task = _instantiate(
        cfg.task, "task", model=model, optimizer=optimizer, scheduler=scheduler, **task_inputs
    )
    task.lr_scales, task.frozen_norms = decided.lr_scales, decided.frozen_norms
    task.train()  # frozen BatchNorm layers evaluate from now on; Lightning keeps module modes
    logged = task.logged_metrics()
    if cfg.monitor.metric not in logged:
        raise ConfigError(
            f"monitor.metric={cfg.monitor.metric!r} is not logged by this task; "
            f"choose one of: {', '.join(sorted(logged))}"
        )

    # 5. Trainer, with the configured callbacks and loggers and the ones every run has.
    # callbacks.NAME=null switches one off, as does logger.NAME=null
    callbacks = [
        _instantiate(c, f"callbacks.{k}") for k, c in cfg.get("callbacks", {}).items() if c
    ]
    monitored = MonitoredBest(cfg.monitor.metric, cfg.monitor.mode)
    callbacks += [monitored, StoreRunConfig(config, __version__, _plain(spec))]
    if decided.unfreeze_every:
        from functools import partial

        from tuneforge.finetune.strategies import frozen_at, norms_within

        schedule = partial(frozen_at, decided.groups, decided.unfreeze_every)
        callbacks.append(GradualUnfreeze(decided.groups, schedule, norms_within))
    search = cfg.get("hparams_search") or {}
    if search.get("trial") is not None:  # a sweep's trial: it reports to its study
        from tuneforge.sweeps.study import make_pruner

        pruner = make_pruner(search.pruner, search.pruner_warmup, search.pruner_startup_trials)
        metric = cfg.monitor.metric
        callbacks.append(
            TrialPruning(search.storage, search.study_name, search.trial, metric, pruner)
        )
    # Random states and the loader's place for exact resume; a NaN loss stops the run (or is
    # skipped, skip_nonfinite=N) before an optimizer step or a checkpoint holds it.
    callbacks += [ResumeState(), NonFiniteLoss(cfg.get("skip_nonfinite") or 0)]
    if cfg.get("ema"):
        from lightning.pytorch.callbacks import EMAWeightAveraging

        callbacks.append(EMAWeightAveraging(decay=cfg.ema))
    loggers = [_instantiate(c, f"logger.{k}") for k, c in cfg.get("logger", {}).items() if c]
    if not loggers:
        callbacks = _without_logging_callbacks(callbacks)
    _check_accelerator(cfg.trainer)
    check_nodes(int(cfg.trainer.get("num_nodes") or 1))
    use_tf32(cfg.trainer, cfg.get("tf32", True))
    precision = runnable_precision(cfg.trainer)  # 16-mixed on the CPU: bf16-mixed
    trainer = _instantiate(
        cfg.trainer,
        "trainer",
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        **({"precision": precision} if precision else {}),
        **_lightning_defaults(cfg.trainer, callbacks),
    )
    trainer.strategy.checkpoint_io = AtomicCheckpointIO()  # a killed save keeps the old file
    return Built(datamodule, model, task, trainer, config, monitored)
