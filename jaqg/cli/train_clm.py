"""Fine-tune a causal LM for question generation (GPT text lines, or chat SFT on chat JSONL), optionally with
LoRA / DoRA / QLoRA; evaluate it.

    python prepare_jsquad_aqg.py --highlight --format gpt
    python run_clm.py --model_name_or_path=rinna/japanese-gpt2-medium \\
      --train_file=data_jsquad_aqg_hl_gpt/train.txt --validation_file=data_jsquad_aqg_hl_gpt/dev.txt \\
      --do_train --do_eval --num_train_epochs=10 --save_steps=10000 --save_total_limit=3 \\
      --per_device_train_batch_size=1 --per_device_eval_batch_size=1 --output_dir=output_gpt/ \\
      --use_fast_tokenizer=False

Flags follow Hugging Face's examples/pytorch/language-modeling/run_clm.py; training is jaqg.training.experiment's
(the same Fabric loop, objectives and output layout as train.py), evaluation jaqg.training.evaluate's. Each line of a
GPT file is
``prompt<sep>question</s>``: the loss falls on the question only, unless --group_texts trains a plain LM on
blocks of concatenated text. --do_eval reports perplexity on --validation_file, generates a question for every
validation prompt and scores it (predictions.tsv, metrics.json in --output_dir).

Chat SFT: a .jsonl train/validation file of conversations (``prepare_jsquad_aqg.py --format chat``) is rendered
with the model's chat template (or --chat_template FILE, saved with the output), loss on the assistant's tokens
only (jaqg.data.chat_sft); --do_eval then reports the assistant-token perplexity and scores what the model
generates for each conversation's last turn, prompted through its chat template. --packing puts several examples
in one row without attention across them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..core.errors import ParamError, UserError
from ..core.io import write_json
from ..data.chat_sft import chat_mode, pack, read_chat_file, set_chat_template, tokenize_chat
from ..data.clm_data import ClmDataset, load_tokenizer, read_clm_file, tokenize_clm
from ..generation.chat import Prompt, chat_template_for, read_chat_examples
from ..generation.decoding import resolve_device, resolve_dtype
from ..models.lora import add_lora, is_lora, load_causal_lm, quantization_config, trainable_share
from ..models.tiny import ensure_special_tokens
from ..tokenization.word import check_names
from ..training.config import TrainingConfig
from ..training.data import TrainingData, data_report
from ..training.evaluate import (
    context_length,
    evaluate_examples,
    generation_prompt_length,
    perplexity,
    perplexity_metrics,
)
from ..training.experiment import Experiment, seed_everything
from ..training.export import merge_lora_export
from .args import arg, parse_args


@dataclass
class ClmArgs(TrainingConfig):
    """Fine-tune a causal LM on prompt<sep>question</s> lines or chat JSONL, optionally with LoRA; evaluate it."""
    output_dir: str = arg("output_gpt", help="where the best model (or LoRA adapter), logs, checkpoints and "
                                             "results go")
    train_file: Optional[str] = arg(None, help="GPT text file, one 'prompt<sep>question</s>' a line "
                                               "(any text with --group_texts), or chat JSONL (.jsonl, "
                                               "{\"messages\": [...]} a line) for chat SFT")
    validation_file: Optional[str] = arg(None, help="same format; picks the best model, and --do_eval scores it")
    learning_rate: Optional[float] = arg(None, help="peak learning rate (default 5e-5 as in HF's run_clm; "
                                                    "2e-4 with --lora_r)")
    block_size: Optional[int] = arg(None, help="max tokens per example / block (default: the model's context, "
                                               "at most 1024)")
    group_texts: bool = arg(False, help="plain LM training: concatenate all lines and cut into --block_size "
                                        "blocks, loss on every token")
    skip_bad_lines: bool = arg(False, help="count and skip bad lines (no <sep>; chat: not JSON, no final "
                                           "assistant turn) instead of failing")
    chat_template: Optional[str] = arg(None, help="chat SFT: a Jinja chat template file for a model without one "
                                                  "(saved with the trained model, so inference renders the same)")
    packing: bool = arg(False, help="pack several examples into each row of up to --block_size tokens (positions "
                                    "restart per example, no attention across examples)")
    use_fast_tokenizer: bool = arg(True, help="accepted for HF compatibility; transformers 5 has one tokenizer "
                                              "backend (quirks such as do_lower_case come from the model's files)")
    trust_remote_code: bool = arg(False, help="run Python code shipped in the model's repository (transformers' "
                                              "trust_remote_code); off: only for models whose source you trust")
    lora_r: int = arg(0, help="LoRA rank; 0 = full fine-tuning")
    lora_alpha: float = arg(16.0, help="LoRA scaling numerator (update scaled by alpha / r)")
    lora_dropout: float = arg(0.05, help="dropout on the LoRA input")
    lora_target_modules: Optional[list[str]] = arg(None, help="module names to adapt (default: per model type, "
                                                              "e.g. c_attn for GPT-2, q_proj v_proj for LLaMA)")
    use_dora: bool = arg(False, help="DoRA: LoRA with a trained magnitude per output (peft; needs --lora_r)")
    load_in_4bit: bool = arg(False, help="QLoRA: the frozen base in 4-bit NF4 through bitsandbytes (CUDA GPU and "
                                         "--lora_r needed)")
    load_in_8bit: bool = arg(False, help="the frozen base in 8-bit through bitsandbytes (CUDA GPU and --lora_r "
                                         "needed)")
    merge_lora: bool = arg(False, help="export a plain model with the adapter merged in (adapter kept in "
                                       "output_dir/adapter)")
    max_new_tokens: int = arg(64, help="generation length for --do_eval")
    num_beams: int = arg(1, help="beam size for --do_eval generation")
    max_eval_samples: Optional[int] = arg(None, help="use only the first N validation examples in --do_eval")
    eval_tokenizers: list[str] = arg(["mecab"], help="word tokenizers for BLEU/ROUGE in metrics.json")


def resolve_block_size(requested: int | None, model) -> int:
    """Tokens per example / block: the model's context (at most 1024) by default; never past its positions."""
    context = context_length(model)
    if requested is None:
        return min(context, 1024)
    if requested > context:
        raise ParamError("block_size", f"{requested} exceeds the model's context of {context} tokens "
                                       f"(its position embeddings); use at most {context}")
    return requested


class ClmExperiment(Experiment):
    """train.py's experiment, merging LoRA on export."""

    def export_best(self) -> Path:
        out = super().export_best()  # a LoRA model exports as its adapter (adapter_config.json + weights)
        if is_lora(self.model) and self.config.merge_lora:
            self.model = merge_lora_export(self.model, self.tokenizer, out)
        return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(ClmArgs, argv)
    if not (args.do_train or args.do_eval):
        raise UserError("nothing to do: pass --do_train and/or --do_eval")
    if not args.validation_file:
        raise UserError("--validation_file is needed: it picks the best model and --do_eval scores on it")
    if args.do_train and not (args.model_name_or_path and args.train_file):
        raise UserError("--do_train needs --model_name_or_path (hub name or make_tiny_model.py dir) and --train_file")
    if args.do_eval:
        check_names(args.eval_tokenizers)  # a typo should fail now, not after training
    if args.learning_rate is None:
        args = dataclasses.replace(args, learning_rate=2e-4 if args.lora_r else 5e-5)
    model_dir = args.model_name_or_path if args.do_train else args.output_dir
    if not args.do_train and not Path(model_dir).is_dir():
        raise UserError(f"{model_dir}: no trained model here; train with --do_train or pass its --output_dir")
    if args.use_dora and not args.lora_r:
        raise UserError("--use_dora trains DoRA adapters: pass --lora_r too")
    half = resolve_dtype(args.precision)
    quantization = quantization_config(args.load_in_4bit, args.load_in_8bit, half, args.lora_r)
    # Parse the data first: a bad line should not wait for a 7B model to load.
    files = {"validation": args.validation_file, **({"train": args.train_file} if args.do_train else {})}
    chat = chat_mode(files, group_texts=args.group_texts, chat_template=args.chat_template, packing=args.packing)
    texts = {name: read_chat_file(path, args.skip_bad_lines) if chat else
             read_clm_file(path, group=args.group_texts, skip_bad_lines=args.skip_bad_lines)
             for name, path in files.items()}
    tokenizer = load_tokenizer(args.tokenizer_name_or_path or model_dir, args.use_fast_tokenizer,
                               args.trust_remote_code)
    if chat:
        print(f"chat template: {set_chat_template(tokenizer, args.chat_template)}")
    seed_everything(args.seed)  # new embedding rows and LoRA adapters start random: the same draw every run
    # LoRA leaves the base frozen, so it needs no fp32 master copy: hold it in the half type the run computes in
    # (a 7B base: 14 GB in bf16, not 28). peft keeps the adapter weights themselves in fp32.
    model = load_causal_lm(model_dir, half if args.lora_r else torch.float32, quantization, args.trust_remote_code)
    if args.do_train and not args.lora_r:
        # <hl>/<sep> as single new tokens, as train.py does. Not with LoRA: the adapter must fit the unchanged
        # base model, and new embedding rows would stay frozen at random values.
        ensure_special_tokens(model, tokenizer)
    block_size = resolve_block_size(args.block_size, model)
    if args.do_eval:
        generation_prompt_length(model, args.max_new_tokens)  # max_new_tokens must leave room for a prompt
    datasets = {}
    for name, (parsed, report) in texts.items():
        tokenize = tokenize_chat if chat else tokenize_clm
        datasets[name] = tokenize(parsed, tokenizer, block_size, report)
        print(datasets[name].report)
    val_set = datasets["validation"]
    if args.max_eval_samples:
        val_set = ClmDataset(val_set.features[: args.max_eval_samples], val_set.examples[: args.max_eval_samples])
    if args.do_train:
        train_set = datasets["train"]
        if args.packing:
            rows, packed = pack(train_set.features, block_size)
            train_set = ClmDataset(rows, train_set.examples, train_set.report)
            print(packed)
        if args.lora_r:
            model = add_lora(model, args.lora_r, args.lora_alpha, args.lora_dropout, args.lora_target_modules,
                             use_dora=args.use_dora, gradient_checkpointing=args.gradient_checkpointing)
        print(trainable_share(model))
        data = TrainingData(train_set, val_set, tokenizer.pad_token_id, args.train_batch_size, args.eval_batch_size,
                           num_workers=args.num_workers, seed=args.seed)
        # prompt/question lines: the same tokenizer coverage report as train.py (grouped plain text has none)
        experiment = ClmExperiment(args, model, tokenizer, data, data_info=data_report(Path(args.train_file).parent),
                                   coverage_examples={"train": train_set.examples,
                                                      "dev": datasets["validation"].examples})
        if not experiment.train():
            return 0  # DDP ranks other than 0 stop here: rank 0 writes every output
        model = experiment.model
        print(f"best model: {args.output_dir}\nloss curve: {Path(args.output_dir) / 'loss_curve.png'}")
    if args.do_eval:
        evaluate(args, model, tokenizer, val_set, chat)
    return 0


def evaluate(args: ClmArgs, model, tokenizer, val_set: ClmDataset, chat: bool = False) -> dict:
    """Perplexity on the validation file; with prompt/question lines or chat conversations, a question generated
    for every prompt (chat: through the model's chat template, the assistant's content only), scored
    (predictions.tsv, metrics.json in output_dir)."""
    model = model.to(resolve_device("auto"))
    if model.device.type != "cpu":
        model = model.to(resolve_dtype(args.precision))
    model.eval()
    loss, n_tokens = perplexity(model, tokenizer, val_set, args.eval_batch_size)
    results = perplexity_metrics(loss, n_tokens)
    print(f"{args.validation_file}: loss {loss:.4f}, perplexity {results['perplexity']:.2f} over {n_tokens} tokens")
    out = Path(args.output_dir)
    prompt = None
    if chat:  # every message but the last is the prompt, through the model's chat template; the last the reference
        rows, heads = read_chat_examples(args.validation_file)
        rows, heads = rows[: args.max_eval_samples or None], heads[: args.max_eval_samples or None]
        prompt = Prompt(tokenizer, chat_template_for(model, tokenizer, {"format": "chat"}, chat_input=True),
                        heads=heads)
    else:  # prompt/question pairs
        rows = [[e.id, e.prompt, e.target] for e in val_set.examples]
    if rows:  # a GPT or chat file has no raw golds beside it: JGLUE scores the targets
        results = evaluate_examples(
            model, tokenizer, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            out, batch_size=args.eval_batch_size,
            max_input_length=max(1, min(context_length(model), 1024) - args.max_new_tokens),
            max_new_tokens=args.max_new_tokens, num_beams=args.num_beams, tokenizers=args.eval_tokenizers,
            tokenizer_name_or_path=args.tokenizer_name_or_path or args.output_dir, metrics=results,
            data_info=data_report(Path(args.validation_file).parent),  # a prepared dir's task: windows keep <hl>
            prompt=prompt)
        print(f"predictions: {out / 'predictions.tsv'}")
    else:
        write_json(out / "metrics.json", results)
    print(f"metrics: {out / 'metrics.json'}")
    return results

