"""The installed version of Effax (``effects.__version__``, as ``numpyro.__version__``)."""

from importlib import metadata

try:
    __version__ = metadata.version("effax")
except metadata.PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"
