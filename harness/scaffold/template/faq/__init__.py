"""The code under test: a one-call FAQ answerer. Replace it with your own agents and flows."""

from faq.flow import answer

__all__ = ["answer"]
