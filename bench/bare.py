"""The baseline: a bare llama-cpp-python script, no dreamflow import.

Two modes, both printing one JSON object on stdout:

* ``--trace FILE``: replay the model calls a dreamflow run made (recorded by ``trace.py``):
  the same messages rendered through the model's own chat template, the same suffixes, seeds,
  sampling, budgets and stop rule. If the tokens come out identical, the two runs did the same
  model work and every difference in wall time or memory is dreamflow's own.
* ``--prompt-file FILE --max-tokens N [--ignore-eos]``: one chat prompt, N tokens; the
  TinyLlama-size model writes noise that may hit EOS at any point, so the full budget can be forced.

Memory switches that dreamflow does not expose (``--type-kv``, ``--flash-attn``, ``--n-ubatch``,
``--no-mmap``) are here to measure what they would save.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time

GGML_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}


@contextlib.contextmanager
def repacking(low_level, enabled: bool):
    # Llama() has no argument for use_extra_bufts; it copies llama_model_default_params().
    original = low_level.llama_model_default_params
    if enabled:
        yield
        return

    def patched():
        params = original()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = patched
    try:
        yield
    finally:
        low_level.llama_model_default_params = original


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-ctx", type=int, required=True)
    ap.add_argument("--n-batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repack", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--n-ubatch", type=int)
    ap.add_argument("--type-kv", choices=sorted(GGML_TYPES))
    ap.add_argument("--flash-attn", action="store_true")
    ap.add_argument("--no-mmap", action="store_true")
    ap.add_argument("--trace")
    ap.add_argument("--prompt-file")
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ignore-eos", action="store_true")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    import llama_cpp
    import llama_cpp.llama_cpp as low_level
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    kwargs = dict(model_path=args.model, n_ctx=args.n_ctx, n_batch=args.n_batch, n_threads=args.threads,
                  n_threads_batch=args.threads, use_mmap=not args.no_mmap, use_mlock=False, verbose=False)
    if args.n_ubatch:
        kwargs["n_ubatch"] = args.n_ubatch
    if args.type_kv:
        kwargs["type_k"] = kwargs["type_v"] = GGML_TYPES[args.type_kv]
    if args.flash_attn:
        kwargs["flash_attn"] = True
    load_started = time.perf_counter()
    with repacking(low_level, args.repack):
        llm = llama_cpp.Llama(**kwargs)
    load_seconds = time.perf_counter() - load_started

    template = llm.metadata.get("tokenizer.chat_template")
    text_of = lambda t: llm._model.token_get_text(t) if t != -1 else ""  # noqa: E731
    formatter = Jinja2ChatFormatter(template=template, eos_token=text_of(llm.token_eos()),
                                    bos_token=text_of(llm.token_bos())) if template else None
    vocab = llm._model.vocab

    def is_end(token: int) -> bool:
        return bool(low_level.llama_vocab_is_eog(vocab, token) or low_level.llama_vocab_is_control(vocab, token))

    def render(messages):
        return formatter(messages=messages).prompt if formatter else "\n\n".join(m["content"] for m in messages) + "\n\n"

    if args.trace:
        with open(args.trace, encoding="utf-8") as f:
            trace = json.load(f)
        chat = render(trace["messages"])
        calls = [dict(c, prompt=chat + c["suffix"]) for c in trace["calls"]]
    else:
        with open(args.prompt_file, encoding="utf-8") as f:
            chat = render(json.load(f)["messages"])
        calls = [{"prompt": chat, "max_tokens": args.max_tokens, "seed": args.seed,
                  "sampling": {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}}]

    results = []
    gen_seconds = 0.0
    total = 0
    for call in calls:
        ids = llm.tokenize(call["prompt"].encode("utf-8"), add_bos=formatter is None, special=True)
        llm.set_seed(call["seed"])
        s = call["sampling"]
        out: list[int] = []
        t0 = time.perf_counter()
        for token in llm.generate(ids, temp=s["temperature"], top_p=s["top_p"], top_k=int(s["top_k"]),
                                  min_p=s["min_p"], repeat_penalty=s["repeat_penalty"], reset=True):
            if not args.ignore_eos and is_end(token):
                break
            out.append(token)
            if len(out) >= call["max_tokens"]:
                break
        gen_seconds += time.perf_counter() - t0
        total += len(out)
        text = llm.detokenize(out).decode("utf-8", errors="ignore")
        results.append({"prompt_tokens": len(ids), "tokens": len(out),
                        "text_sha": hashlib.sha256(text.encode()).hexdigest()[:16]})
    llm.close()
    print(json.dumps({"load_seconds": load_seconds, "generation_seconds": gen_seconds, "tokens": total,
                      "tokens_per_second": total / gen_seconds if gen_seconds else 0.0, "calls": results,
                      "in_process_seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
