"""`tuneforge export ckpt_path=PATH format=safetensors|hf`: the trained model for other tools.

`safetensors` writes the model's weights (names as the model has them, so `finetune.checkpoint`
loads them back) beside the resolved training config. `hf` writes a GPT as a Hugging Face GPT-2
folder that `transformers.GPT2LMHeadModel.from_pretrained` reads, with its tokenizer where the
`tokenizers` library can read it (byte-level BPE); a character vocabulary stays tuneforge's.
"""

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tuneforge.cli._checkpoint import checkpoint_file, read_checkpoint, stored_config
from tuneforge.cli._files import write_atomic, write_json
from tuneforge.cli._inference import stored_tokenizer, trained_model
from tuneforge.cli.errors import ConfigError
from tuneforge.cli.validate import validate

log = logging.getLogger(__name__)

FORMATS = ("safetensors", "hf")


def _write_tokenizer(tokenizer_json: str | None, out: Path, for_hf: bool) -> None:
    if tokenizer_json is None:
        return
    if json.loads(tokenizer_json).get("type") == "char":
        # ours, not the tokenizers library's: a Hugging Face loader must not pick it up
        write_atomic(out / "tuneforge_tokenizer.json", lambda handle: handle.write(tokenizer_json))
        return
    write_atomic(out / "tokenizer.json", lambda handle: handle.write(tokenizer_json))
    if for_hf:
        write_json(out / "tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast"})


def _export_safetensors(model: Any, checkpoint: dict[str, Any], out: Path) -> None:
    from safetensors.torch import save_model

    save_model(model, str(out / "model.safetensors"))  # keeps one name of tied weights
    config = OmegaConf.to_yaml(stored_config(checkpoint))
    write_atomic(out / "config.yaml", lambda handle: handle.write(config))


def _export_hf(model: Any, out: Path) -> None:
    from safetensors.torch import save_file

    from tuneforge.models import GPT
    from tuneforge.models.gpt_hf import hf_gpt2_config, hf_gpt2_state_dict

    if not isinstance(model, GPT):
        raise ConfigError(
            f"format=hf exports GPT models (as GPT-2), not a {type(model).__name__}; "
            "use format=safetensors"
        )
    save_file(hf_gpt2_state_dict(model), str(out / "model.safetensors"), {"format": "pt"})
    write_json(out / "config.json", hf_gpt2_config(model))


def run(cfg: DictConfig, run_dir: Path) -> Path:
    """Write the export into the run folder; return it."""
    validate(cfg)
    if cfg.format not in FORMATS:
        raise ConfigError(
            f"format={cfg.format!r} is not valid; choose one of: {', '.join(FORMATS)}"
        )
    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    model = trained_model(checkpoint, path).eval()
    if cfg.format == "hf":
        _export_hf(model, run_dir)
    else:
        _export_safetensors(model, checkpoint, run_dir)
    _write_tokenizer(stored_tokenizer(checkpoint), run_dir, for_hf=cfg.format == "hf")
    log.info("%s export of %s written to %s", cfg.format, path, run_dir)
    return run_dir
