"""Any timm architecture by name, sized by the data.

timm models already have our backbone interface (it is timm's), so this is a factory, not a
wrapper: it returns timm's own module, whose parameter names match timm's checkpoints. What it
adds is the data's sizes (`in_chans` from `input_shape`, `num_classes`) and one-line errors for
the two ways `create_model` fails a user: a misspelt name, and weights that cannot be downloaded.

timm itself is imported inside the function, so `import tuneforge.models` does not pay for it.
"""

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn


def _check_name(name: str) -> None:
    """A ValueError with the closest timm names when `name` is not one."""
    import timm

    if name.startswith(("hf-hub:", "hf_hub:", "local-dir:")) or timm.is_model(name):
        return
    architecture = name.split(".", 1)[0]
    close = difflib.get_close_matches(architecture, timm.list_models(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ValueError(
        f"name={name!r} is not a timm model; {hint}`timm.list_models('*pattern*')` lists them"
    )


def _download_hint(name: str, ex: Exception) -> str:
    """The one line that tells an offline user how to get the weights for `name`."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)  # the default weights, or those of name's tag
    hub_id = getattr(cfg, "hf_hub_id", None)
    where = f"`hf download {hub_id} model.safetensors`" if hub_id else "timm's model card"
    return (
        f"pretrained=true could not download the timm weights for {name!r} "
        f"({type(ex).__name__}; no network?); get them with {where} where there is a network, "
        "copy the file here and set pretrained_file=PATH"
    )


def timm_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int],
    pretrained: bool = False,
    pretrained_file: str | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    **kwargs: Any,
) -> nn.Module:
    """timm's `name` for this data: `in_chans` from `input_shape`, a head for `num_classes`.

    Pretrained weights are loaded by timm, which adapts them to the data: a new head when the
    class count differs, the first convolution summed or repeated for other channel counts.

    Args:
        name: a timm architecture, optionally with a weights tag (`resnet18.a1_in1k`).
        num_classes: outputs of the classifier, told by the data.
        input_shape: (channels, height, width) of one input, told by the data.
        pretrained: start from timm's pretrained weights (downloaded from the Hugging Face Hub;
            HF_HUB_OFFLINE=1 makes an offline machine say so at once instead of retrying).
        pretrained_file: a weights file (.safetensors, .pth) to load instead of downloading;
            implies pretrained.
        drop_rate: dropout before the classifier (null: timm's default for the architecture).
        drop_path_rate: stochastic depth (null: timm's default); not every architecture has it.
        **kwargs: any other argument of `timm.create_model`, such as `global_pool`.

    Raises:
        ValueError: for an unknown name, a missing pretrained_file, or weights that cannot be
            downloaded; one line that says the fix.
    """
    import timm

    _check_name(name)
    if pretrained_file is not None:
        if not Path(pretrained_file).is_file():
            raise ValueError(f"pretrained_file={pretrained_file!r} is not a file")
        # timm reads an overlaid `file` before any download, and adapts it like hub weights.
        kwargs["pretrained_cfg_overlay"] = {"file": str(pretrained_file)}
        pretrained = True
    try:
        return timm.create_model(
            name,
            pretrained=pretrained,
            num_classes=num_classes,
            in_chans=input_shape[0],
            drop_rate=drop_rate,  # timm drops None arguments, keeping its own defaults
            drop_path_rate=drop_path_rate,
            **kwargs,
        )
    except OSError as ex:  # no network: hub (LocalEntryNotFoundError) or url (URLError)
        raise ValueError(_download_hint(name, ex)) from ex
    except RuntimeError as ex:
        if "pretrained" in str(ex):  # "No pretrained weights exist for ...", an unknown tag
            raise ValueError(f"name={name!r}: {str(ex).splitlines()[0]}") from ex
        raise
