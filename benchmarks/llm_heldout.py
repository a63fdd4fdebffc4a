"""Held-out replies of a fine-tuned causal LM against its base model, scored alike.

Both see every conversation of the held-out file through the chat template the run trained with
(the base gets the same prompts; only the adapters differ):
- replies: each answers greedily, and its reply is compared with the file's own after
  lower-casing and folding punctuation (exact match), as `tuneforge predict` scores it; the
  share of replies that ended by themselves (with the end-of-turn token rather than at
  --max-new-tokens) shows whether the model learned to stop;
- loss: the token-mean cross-entropy of the file's own replies (every assistant turn), and its
  perplexity, as the causal-LM task's validation computes it: for open-ended chat, where an
  exact match means little.

Run: .venv/bin/python benchmarks/llm_heldout.py --run outputs/train/RUN --heldout FILE.jsonl
"""

import argparse
import math
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a tuneforge train run folder")
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rows", type=int, default=None, help="the first N rows only")
    parser.add_argument("--measure", choices=("replies", "loss", "both"), default="both")
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
    print(f"{'model':<12}{'exact match':>12}{'stopped':>10}{'reply loss':>11}{'ppl':>8}{'rows':>6}")
    for name, load in models.items():
        model = load()
        chat = ChatModel(model, template)
        match, stopped, rows = float("nan"), float("nan"), 0
        if args.measure in ("replies", "both"):
            torch.manual_seed(0)
            _, scores = answer_file(chat, str(heldout), config.data, sampling, args.batch_size)
            match, stopped = scores.get("exact_match", float("nan")), scores["stopped"]
            rows = scores["rows"]
        loss = float("nan")
        if args.measure in ("loss", "both"):
            loss, rows = reply_loss(chat, heldout, config.data, args.batch_size)
        print(
            f"{name:<12}{match:>12.3f}{stopped:>10.3f}{loss:>11.4f}{math.exp(loss):>8.2f}{rows:>6}"
        )


def reply_loss(chat, heldout: Path, data, batch_size: int) -> tuple[float, int]:
    """The token-mean loss of the file's replies under `chat`'s model, and the rows scored
    (those that fit data.max_length)."""
    from tuneforge.data.chat_packing import collate
    from tuneforge.data.chat_records import read_conversations
    from tuneforge.data.chat_tokens import encode_conversations
    from tuneforge.tasks import CausalLMTask

    conversations = read_conversations(
        heldout, data.get("format") or "auto", data.get("columns") or None
    ).conversations
    encoded = encode_conversations(
        chat.tokenizer, conversations, chat.template, "assistant", data.max_length, "drop"
    ).examples
    task = CausalLMTask(chat.model, optimizer=None)
    pad = chat.stops[0]
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            loss, tokens = task.token_loss(collate(encoded[start : start + batch_size], pad))
            total, count = total + float(loss) * int(tokens), count + int(tokens)
    return total / count, len(encoded)


if __name__ == "__main__":
    main()
