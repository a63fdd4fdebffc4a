"""Held-out replies of a fine-tuned causal LM against its base model, scored alike.

Both answer every conversation of the held-out file greedily through the chat template the run
trained with (the base gets the same prompts; only the adapters differ), and each reply is
compared with the file's own reply after lower-casing and folding punctuation (exact match), as
`tuneforge predict` scores it. The share of replies that ended by themselves (with the
end-of-turn token rather than at --max-new-tokens) shows whether the model learned to stop.

Run: .venv/bin/python benchmarks/llm_heldout.py --run outputs/train/RUN --heldout FILE.jsonl
"""

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a tuneforge train run folder")
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rows", type=int, default=None, help="the first N rows only")
    args = parser.parse_args()

    import tuneforge
    from tuneforge.run.build import build_model
    from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint, stored_config
    from tuneforge.run.from_checkpoint import stored_chat_template
    from tuneforge.run.llm_chat import ChatModel, Sampling, answer_file

    checkpoint = read_checkpoint(checkpoint_file(args.run))
    config = stored_config(checkpoint)
    template = stored_chat_template(checkpoint)
    heldout = args.heldout
    if args.rows is not None:
        lines = heldout.read_text(encoding="utf-8").split("\n")[: args.rows]
        heldout = Path("/tmp") / f"heldout-{args.rows}.jsonl"
        heldout.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    models = {
        "base": lambda: build_model(config.model, {}),
        "fine-tuned": lambda: tuneforge.load(args.run),
    }
    print(f"{'model':<12}{'exact match':>12}{'stopped':>10}{'rows':>6}{'seconds':>9}")
    for name, load in models.items():
        started = time.perf_counter()
        chat = ChatModel(load(), template)
        torch.manual_seed(0)
        _, scores = answer_file(chat, str(heldout), config.data, sampling, args.batch_size)
        seconds = time.perf_counter() - started
        print(
            f"{name:<12}{scores.get('exact_match', float('nan')):>12.3f}"
            f"{scores['stopped']:>10.3f}{scores['rows']:>6}{seconds:>9.1f}"
        )


if __name__ == "__main__":
    main()
