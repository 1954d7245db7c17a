"""What the log benchmarks share: where the Loghub 2k datasets are, and Drain3 untuned.

The Loghub data has a research licence: it is read from ../shared, never copied here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATASETS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH",
            "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]


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
