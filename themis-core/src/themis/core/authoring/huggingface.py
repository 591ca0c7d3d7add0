"""Hugging Face datasets: the one loader, which records the revision it read.

The catalog, ``themis quick-eval huggingface`` and campaigns' hub datasets
all read through :func:`load_hub_rows`. It goes through the dataset builder
rather than ``datasets.load_dataset`` because the builder exposes the commit
the hub resolved, so a dataset asked for without a pinned revision is still
recorded exactly (in ``Dataset.revision``, part of the run's identity).
The ``datasets`` library is imported only here and only when called: core
does not depend on it (``pip install 'themis-eval-core[huggingface]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from themis.core.errors import DatasetUnavailableError

INSTALL_HINT = "pip install 'themis-eval-core[huggingface]'"


@dataclass(frozen=True, slots=True)
class HubRows:
    """A split's rows and the revision they were read at."""

    rows: list[dict[str, Any]]
    revision: str | None


def datasets_module(install_hint: str = INSTALL_HINT) -> Any:
    """The ``datasets`` library, or a DatasetUnavailableError saying how to install it."""
    try:
        import datasets  # type: ignore[import-untyped]
    except ImportError as exc:
        raise DatasetUnavailableError(
            f"loading a Hugging Face dataset needs the `datasets` library: {install_hint}"
        ) from exc
    return datasets


def load_hub_rows(
    path: str,
    config: str | None = None,
    *,
    split: str,
    revision: str | None = None,
    install_hint: str = INSTALL_HINT,
) -> HubRows:
    """The rows of one split of a hub dataset (or a local data directory).

    ``revision`` pins a hub revision; without it the revision the library
    resolved is returned (the hub's commit; for a local folder, the library's
    hash of its files). Any failure of the library (an
    unknown dataset, split or config, no network, a gated dataset) is a
    DatasetUnavailableError naming the dataset.
    """
    datasets = datasets_module(install_hint)
    described = (
        f"{path}{f'/{config}' if config else ''}[{split}]{f'@{revision}' if revision else ''}"
    )
    try:
        builder = datasets.load_dataset_builder(path, config, revision=revision)
        builder.download_and_prepare()
        loaded = builder.as_dataset(split=split)
    except Exception as exc:  # the hub, the network and the files each raise their own
        message = " ".join(str(exc).split())
        raise DatasetUnavailableError(
            f"cannot load Hugging Face dataset {described}: {type(exc).__name__}: {message}"
        ) from exc
    commit = builder.hash if isinstance(builder.hash, str) else None
    return HubRows(list(loaded.to_list()), revision or commit)


def load_data_files(builder: str, files: list[str], *, install_hint: str = INSTALL_HINT) -> Any:
    """Local data files (all of one format: ``json``, ``csv``, ``parquet``) as one dataset."""
    datasets = datasets_module(install_hint)
    try:
        return datasets.load_dataset(builder, data_files=files, split="train")
    except Exception as exc:  # each format's reader raises its own
        raise DatasetUnavailableError(
            f"cannot read {', '.join(files)}: {type(exc).__name__}: {exc}"
        ) from exc
