"""Run `dreamflow generate ARGS` in this process and record every model call it makes, so that
bare.py can replay exactly the same model work. Untimed: the timed runs are separate processes.

    python bench/trace.py OUT.json generate "a sleepy dragon" --seed 7 ...
"""

from __future__ import annotations

import hashlib
import json
import sys

from dreamflow_cli.cli import app as cli

from dreamflow_cli.engine import single as engine
def main() -> None:
    out_path, argv = sys.argv[1], sys.argv[2:]
    trace: dict = {"messages": None, "calls": []}
    original_generate = engine.LoadedModel.generate

    def generate(self, prompt, *, max_tokens, sampling, seed, on_token=None):
        gen = original_generate(self, prompt, max_tokens=max_tokens, sampling=sampling, seed=seed, on_token=on_token)
        trace["messages"] = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        trace["calls"].append({
            "suffix": prompt.prefix, "max_tokens": max_tokens, "seed": seed, "sampling": dict(sampling),
            "prompt_tokens": gen.prompt_tokens, "tokens": gen.generated_tokens, "finish": gen.finish_reason,
            "text_sha": hashlib.sha256(gen.text.encode()).hexdigest()[:16],
        })
        return gen

    engine.LoadedModel.generate = generate
    code = 0
    try:
        rv = cli.app(argv, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except SystemExit as exc:
        code = exc.code or 0
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(trace, f, indent=1)
    sys.exit(code)


if __name__ == "__main__":
    main()
