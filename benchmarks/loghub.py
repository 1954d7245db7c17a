"""What the log benchmarks share: where the Loghub 2k datasets are, and Drain3 untuned.

The Loghub data has a research licence: it is read from ../shared, never copied here.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATASETS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH",
            "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]
LOGHUB = SHARED / "data" / "loghub"


def content_lines(root: Path = LOGHUB) -> list[str]:
    """The ``Content`` column of every dataset, in dataset order (the corrected labels' file where there is one)."""
    out: list[str] = []
    for name in DATASETS:
        path = root / name / f"{name}_2k.log_structured_corrected.csv"
        if not path.exists():
            path = root / name / f"{name}_2k.log_structured.csv"
        with open(path, encoding="utf-8", newline="") as f:
            out += [r["Content"] for r in csv.DictReader(f)]
    return out


def drain_miner() -> Any:
    """A Drain3 TemplateMiner with its defaults (no per-dataset tuning), or None without drain3."""
    try:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    logging.getLogger("drain3").setLevel(logging.WARNING)
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    return TemplateMiner(config=config)
