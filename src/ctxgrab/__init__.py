"""ctxgrab: production incident to one data-rich, safe LLM prompt."""
__version__ = "0.1.0"
