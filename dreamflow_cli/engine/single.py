"""The local llama.cpp engine: loading a model and generating token by token (the profiles it
runs with live in profiles.py).

``llama_cpp`` is imported only inside ``load_model`` so ``--help`` and ``doctor`` stay fast.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from dreamflow_cli.backend.seam import Generation, Prompt, TokenCallback, fit_max_tokens
from dreamflow_cli.errors import ModelError, NotEnoughMemoryError
from dreamflow_cli.plan.preflight import memory_advice
from dreamflow_cli.settings.profiles import Profile

__all__ = ["Generation", "LoadedModel", "llama_cpp_version", "load_model"]


class _LogGate:
    """llama.cpp logs through one process-wide C callback; keep it silent unless verbose."""

    verbose = False
    _installed: Any = None

    @classmethod
    def install(cls, llama_cpp: Any, verbose: bool) -> None:
        cls.verbose = verbose
        if cls._installed is None:
            @llama_cpp.llama_log_callback
            def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
                if cls.verbose:
                    sys.stderr.write(text.decode("utf-8", errors="replace"))

            cls._installed = callback  # a reference, or ctypes frees the trampoline
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def llama_cpp_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return None


class LoadedModel:
    """The ``local`` backend: a GGUF model loaded into this process by llama.cpp.

    One llama.cpp context holds one conversation at a time, so concurrent generate() calls take
    turns (``max_parallel`` 1)."""

    kind = "local"
    max_parallel = 1

    def __init__(self, llama: Any, llama_cpp: Any, profile: Profile, path: Path, load_seconds: float):
        self._llama = llama
        self._llama_cpp = llama_cpp
        self.profile = profile
        self.path = path
        self.load_seconds = load_seconds
        self._formatter = self._chat_formatter()
        self.has_chat_template = self._formatter is not None
        self._lock = threading.Lock()

    def _chat_formatter(self) -> Any:
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text_of(token: int) -> str:
            return self._llama._model.token_get_text(token) if token != -1 else ""

        return Jinja2ChatFormatter(template=template, eos_token=text_of(self._llama.token_eos()),
                                   bos_token=text_of(self._llama.token_bos()))

    def render(self, prompt: Prompt) -> str:
        """The text the model continues: the turns through the model's own chat template (ChatML,
        Zephyr, …), then the start of the answer. Without a template the turns are plain text."""
        if self._formatter is None:
            turns = "\n\n".join(part for part in (prompt.system, prompt.user) if part)
            return f"{turns}\n\n{prompt.prefix}" if turns else prompt.prefix
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        return self._formatter(messages=messages).prompt + prompt.prefix

    def tokenize(self, text: str) -> list[int]:
        # Templates write their own BOS; a template-less prompt needs the model's.
        return self._llama.tokenize(text.encode("utf-8"), add_bos=self._formatter is None, special=True)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.tokenize(self.render(prompt)))

    def is_end(self, token: int) -> bool:
        vocab = self._llama._model.vocab
        # A control token (a new turn, a role tag) ends the story as surely as end-of-generation.
        return bool(self._llama_cpp.llama_vocab_is_eog(vocab, token)
                    or self._llama_cpp.llama_vocab_is_control(vocab, token))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.path.name}

    def generate(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        sampling: Mapping[str, float],
        seed: int,
        on_token: TokenCallback | None = None,
    ) -> Generation:
        with self._lock:
            return self._generate(self.tokenize(self.render(prompt)), max_tokens, sampling, seed, on_token)

    def _generate(self, prompt_ids: list[int], max_tokens: int, sampling: Mapping[str, float], seed: int,
                  on_token: TokenCallback | None) -> Generation:
        budget = fit_max_tokens(len(prompt_ids), max_tokens, self.profile.n_ctx)
        self._llama.set_seed(seed)
        out: list[int] = []
        finish = "length"
        started = time.perf_counter()
        first = 0.0
        tokens = self._llama.generate(
            prompt_ids,
            temp=sampling["temperature"],
            top_p=sampling["top_p"],
            top_k=int(sampling["top_k"]),
            min_p=sampling["min_p"],
            repeat_penalty=sampling["repeat_penalty"],
            reset=True,
        )
        try:
            for token in tokens:
                if not out:
                    first = time.perf_counter() - started
                if self.is_end(token):
                    finish = "stop"
                    break
                out.append(token)
                if on_token is not None:
                    on_token(len(out))
                if len(out) >= budget:
                    break
        except MemoryError:
            raise NotEnoughMemoryError("ran out of memory while writing the story",
                                      memory_advice(self.profile.name)) from None
        except RuntimeError as exc:
            # llama_decode fails when a compute buffer cannot be allocated mid-story.
            if "llama_decode" not in str(exc):
                raise
            raise NotEnoughMemoryError(f"llama.cpp could not continue the story ({exc})",
                                      memory_advice(self.profile.name)) from None
        finally:
            tokens.close()  # an abandoned generator must not keep decoding state half-open
        seconds = time.perf_counter() - started
        text = self._llama.detokenize(out).decode("utf-8", errors="ignore")
        return Generation(text=text, prompt_tokens=len(prompt_ids), generated_tokens=len(out),
                          max_tokens=budget, seconds=seconds, first_token_seconds=first,
                          finish_reason=finish)

    @property
    def llama(self) -> Any:
        """The llama_cpp.Llama underneath, for code that drives llama.cpp directly (decoder.py)."""
        return self._llama

    def interrupt(self) -> None:
        pass  # generation stops at the next token through the callback

    def close(self) -> None:
        self._llama.close()


@contextlib.contextmanager
def _repacking(low_level: Any, enabled: bool) -> Iterator[None]:
    """llama-cpp-python has no argument for ``use_extra_bufts``; it builds its model params from
    ``llama_model_default_params()``, so we hand it defaults with the field switched off."""
    original = low_level.llama_model_default_params
    if enabled or not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def without_repacking() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        low_level.llama_model_default_params = original


def load_model(path: Path, profile: Profile, *, verbose: bool = False, n_gpu_layers: int = 0) -> LoadedModel:
    import llama_cpp
    import llama_cpp.llama_cpp as low_level

    _LogGate.install(llama_cpp, verbose)
    started = time.perf_counter()
    # verbose=True stops llama-cpp-python from redirecting fd 1/2 to /dev/null during load (which
    # would swallow our own live display); the log gate above keeps llama.cpp quiet instead, and
    # the library's own Python-level prints are caught here.
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
    try:
        with sink, _repacking(low_level, profile.repack):
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=profile.n_ctx,
                n_batch=profile.n_batch,
                n_threads=profile.n_threads,
                n_threads_batch=profile.n_threads,
                use_mmap=profile.use_mmap,
                use_mlock=profile.use_mlock,
                n_gpu_layers=n_gpu_layers,  # gpu.decide_gpu_layers: 0 on a CPU-only build
                verbose=True,
            )
        llama.verbose = verbose  # later calls (generate) check this flag before printing
    except MemoryError:
        raise NotEnoughMemoryError(f"ran out of memory while loading {path.name}",
                                  memory_advice(profile.name)) from None
    except ValueError as exc:
        if "llama_context" in str(exc):  # the weights loaded, but the KV cache/buffers could not be allocated
            raise NotEnoughMemoryError(f"not enough memory for the {profile.name} profile's context "
                                       f"(n_ctx {profile.n_ctx})", memory_advice(profile.name)) from None
        raise ModelError(f"llama.cpp could not load {path}: {exc}",
                         "the file may be damaged or of an unsupported architecture; "
                         "re-download it with `dreamflow download-model NAME --force`") from None
    return LoadedModel(llama, llama_cpp, profile, Path(path), time.perf_counter() - started)
