"""crumbless: cookieless, privacy-preserving web analytics ingestion."""

__version__ = "0.1.0"
