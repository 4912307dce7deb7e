"""cryptoscan: real-time momentum scanner for every USDT pair on Binance."""

__version__ = "0.1.0"

__all__ = ["__version__"]
