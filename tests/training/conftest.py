"""A tiny ladder built once per session from a small sample corpus."""

import pytest

from annotation.sample_corpus import generate
from training.ml.ladder import build_demo_ladder

TINY_SIZES = ["cpu-xs", "cpu-s"]


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory) -> list[dict]:
    texts = [message["text"] for message in generate(messages=3000, seed=5)]
    windows = ["\n".join(texts[i:i + 12]) for i in range(0, len(texts) - 12, 6)]
    return build_demo_ladder(
        texts=windows, output_dir=tmp_path_factory.mktemp("ladder"), sizes=TINY_SIZES, seed=0, pretrain_steps=30
    )
