"""Load pretrained weights into a model built for the new task, and report what happened.

The model is built first, sized by the new data (its head already has the new class count), and
the weights are poured into whatever fits, as timm's `load_pretrained` does: tensors whose name
and shape match are loaded, a classifier head of another size keeps its fresh init, and everything
else is listed in a `LoadReport` instead of being dropped silently.

"Matched" means "this tensor now holds those values", after a layout conversion the report names
(GPT-2's Conv1D weights, `_layouts`). A load that would change what the model computes while
reporting a match is refused instead: tensors stored transposed without a known conversion, and
two different source tensors for one tied tensor of the model.
"""

import logging
from pathlib import Path

import torch
from torch import nn

from tuneforge.finetune._keys import is_adapter, match_names
from tuneforge.finetune._layouts import refuse_transposed, to_model_layout
from tuneforge.finetune.report import LoadReport
from tuneforge.finetune.weights import WeightsError, read_weights

log = logging.getLogger(__name__)

FIRST = 3  # names quoted in a one-line error


def load_pretrained(
    model: nn.Module,
    source: str | Path,
    key_map: dict[str, str] | None = None,
    strict: bool = False,
    head: str | None = None,
    reset_head: str | None = None,
) -> LoadReport:
    """Load the tensors of `source` that fit `model`, in place, and say which did not.

    A Hugging Face GPT-2 (its Conv1D layout, with or without the `transformer.` prefix) is first
    converted to our GPT's layout, when the model holds its projections as nn.Linear. Source
    names are then matched to the model's by stripping wrapper prefixes (`model.`, `module.`,
    `_orig_mod.`), then `key_map`, then pairing names that differ by a dotted prefix (torchvision's
    `fc.weight` is our ResNet's `head.fc.weight`); see `tuneforge.finetune._keys`.

    Args:
        model: the model to fine-tune, already built for the new task.
        source: weights as `read_weights` reads them (.ckpt, .safetensors, .pt/.pth/.bin, a Hugging
            Face model folder).
        key_map: regex -> replacement, applied in order with `re.sub` to every source name after
            its wrapper prefixes are stripped, for names that differ otherwise.
        strict: fail unless every model tensor outside the classifier head is loaded. The head is
            exempt because fine-tuning to another class count resizes it on purpose.
        head: module name of the classifier head. Default: the model's `get_classifier()` (timm's
            interface), else its last `nn.Linear`.
        reset_head: why the head must keep its fresh init even where the weights' head fits (its
            classes are other ones); None loads a head that fits.

    Returns:
        The report; it is also logged in one line.

    Raises:
        WeightsError: when `source` cannot be read, no tensor of it fits the model, tensors
            are stored transposed against the model, two differ for one tied tensor, or `strict`
            and a non-head tensor is missing or of another shape. The model is unchanged then.
    """
    read = read_weights(source)
    state, aliases = _distinct_state(model)
    _refuse_unmerged_lora(read, state, source)
    weights, conversion = to_model_layout(read, model)
    head_name, head_module = find_head(model, head)
    head_keys = {f"{head_name}.{k}" for k in head_module.state_dict()} if head_module else set()
    names = match_names(weights, state, key_map, head_keys)

    loaded: dict[str, torch.Tensor] = {}
    loaded_from: dict[str, str] = {}
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    unexpected = []
    for key, name in names.target.items():
        name = aliases.get(name, name)
        if name not in state:
            unexpected.append(name)
        elif weights[key].shape != state[name].shape:
            mismatched[name] = (tuple(weights[key].shape), tuple(state[name].shape))
        elif name in loaded:
            _refuse_untied(source, loaded_from[name], key, loaded[name], weights[key])
        elif not (reset_head and name in head_keys):
            loaded[name], loaded_from[name] = weights[key], key
    report = LoadReport(
        source=str(source),
        source_tensors=len(read),
        matched=[k for k in state if k in loaded],
        missing=[k for k in state if k not in loaded and k not in mismatched],
        unexpected=unexpected,
        mismatched={k: mismatched[k] for k in state if k in mismatched},
        head=head_name,
        stripped_prefixes=names.stripped_prefixes,
        renamed=names.renamed,
        layout=conversion.layout,
        transposed=conversion.transposed,
        dropped=conversion.dropped,
    )
    _describe_head(report, head_module, head_keys)
    if reset_head and head_keys:
        report.head_reset, report.head_message = True, f"head reset: {reset_head}"

    refuse_transposed(report, head_keys)
    if not loaded:
        first = ", ".join(list(read)[:FIRST])
        raise WeightsError(
            f"none of the {len(read)} tensors in '{source}' match the model (first keys: "
            f"{first}); set finetune.key_map or point at weights of this architecture",
            report=report,
        )
    if strict:
        _check_strict(report, head_keys)
    model.load_state_dict(loaded, strict=False)
    log.info(report.summary())
    return report


def _refuse_unmerged_lora(
    weights: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str | Path
) -> None:
    """A LoRA run's weights hold each adapted layer as base weight, A and B; their sum, scaled by
    the run's alpha / rank, is the layer. Loaded apart, the base would pass for the trained
    layer, so they are refused, with the command that merges them."""
    adapters = [key for key in weights if is_adapter(key)]
    if adapters and not any(is_adapter(key) for key in state):
        raise WeightsError(
            f"weights '{source}' hold unmerged LoRA adapters ({adapters[0]}, ...); merge them "
            f"with `tuneforge export ckpt_path={source}` and set finetune.checkpoint to the "
            "model.safetensors it writes"
        )


def _refuse_untied(
    source: str | Path, first: str, second: str, a: torch.Tensor, b: torch.Tensor
) -> None:
    """Two source tensors for one tensor of the model (a GPT's output layer is its token
    embedding) load only when they are equal: otherwise the model cannot compute what they do."""
    if not torch.equal(a, b):
        raise WeightsError(
            f"weights '{source}' hold {first} and {second} with different values, but the model "
            "ties them into one tensor, so it cannot compute what the weights do; start from "
            "weights whose output layer is tied to the token embedding"
        )


def _distinct_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The model's state_dict with one name per tensor, and the other names of tied tensors
    mapped to it: a GPT's output layer is its token embedding, and a file may hold it under
    either name (safetensors keeps one)."""
    first: dict[int, str] = {}
    state, aliases = {}, {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in first:
            aliases[name] = first[id(tensor)]
        else:
            first[id(tensor)] = name
            state[name] = tensor.detach()
    return state, aliases


def find_head(model: nn.Module, head: str | None) -> tuple[str | None, nn.Module | None]:
    """The classifier head's name and module: `head`, else the model's `get_classifier()`, else
    its last nn.Linear. Loading tells a resized head apart from a mismatch with it; LoRA trains
    it fully."""
    if head is not None:
        try:
            return head, model.get_submodule(head)
        except AttributeError as ex:
            children = ", ".join(name for name, _ in model.named_children())
            raise WeightsError(
                f"head={head!r} is not a module of {type(model).__name__} (its modules: "
                f"{children}); set finetune.head to the classifier's module name"
            ) from ex
    if callable(getattr(model, "get_classifier", None)):
        classifier = model.get_classifier()
        if classifier is None:  # a model that says it has none (a causal LM's output layer)
            return None, None
        for name, module in model.named_modules():
            if module is classifier and name:
                return name, module
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else (None, None)


def _describe_head(report: LoadReport, head: nn.Module | None, head_keys: set[str]) -> None:
    """Mark the head as reset when it was not loaded: it keeps the init it was built with."""
    resized = [k for k in head_keys if k in report.mismatched]
    absent = [k for k in head_keys if k in report.missing]
    if not (resized or absent):
        return
    weight = f"{report.head}.weight"
    classes = getattr(head, "out_features", None)
    if classes is None and weight in report.mismatched:
        classes = report.mismatched[weight][1][0]
    report.head_reset = True
    if resized:
        key = weight if weight in report.mismatched else resized[0]
        theirs, ours = report.mismatched[key]
        if theirs[0] != ours[0]:
            report.head_message = f"head reset for {classes} classes (the weights have {theirs[0]})"
        else:  # same classes, other input width: the features feeding the head differ
            report.head_message = (
                f"head reset: its {key} is {tuple(ours)} here, {tuple(theirs)} in the weights"
            )
    else:
        report.head_message = (
            f"head not in the weights; it keeps its fresh init ({classes} classes)"
        )


def _check_strict(report: LoadReport, head_keys: set[str]) -> None:
    missing = [k for k in report.missing if k not in head_keys]
    mismatched = [k for k in report.mismatched if k not in head_keys]
    if missing or mismatched:
        first = ", ".join((missing + mismatched)[:FIRST])
        raise WeightsError(
            f"strict loading of '{report.source}' failed: {len(missing)} of the model's tensors "
            f"missing and {len(mismatched)} shape-mismatched outside the head (first: {first}); "
            "set finetune.strict=false or fix finetune.key_map",
            report=report,
        )
