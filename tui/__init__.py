"""mxscope: a terminal toolkit for people who run mail servers."""

__version__ = "0.1.0"
