"""ctxgrab: turn a production incident into one data-rich, safe prompt for an LLM.

>>> import ctxgrab                                                            # doctest: +SKIP
>>> result = ctxgrab.incident("payments", config="fixtures/demo/ctxgrab.yaml")  # doctest: +SKIP
>>> result.markdown.splitlines()[0]                                           # doctest: +SKIP
'# Incident context: payments'
"""

from .api import IncidentResult, aincident, incident
from .config import Config, load_config
from .errors import (
    ConfigError,
    CtxgrabError,
    InputError,
    RenderError,
    SourceError,
    SourceTimeout,
    UnknownServiceError,
)
from .evidence import Evidence, Status
from .redact import redact
from .timeutil import Window

__version__ = "0.1.0"

__all__ = [
    "incident",
    "aincident",
    "IncidentResult",
    "Evidence",
    "Status",
    "Window",
    "Config",
    "load_config",
    "redact",
    "CtxgrabError",
    "ConfigError",
    "UnknownServiceError",
    "InputError",
    "SourceError",
    "SourceTimeout",
    "RenderError",
    "__version__",
]
