"""PhotoSurvey's GraphQL service: survey tasks for contributors, answers stored in MongoDB."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("photosurvey")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
