"""Decimal strings from integer units: prices are whole ticks, quantities whole steps, so text is exact."""

from __future__ import annotations


def fmt_units(units: int, dec: int, out_dec: int) -> str:
    """``units * 10**-dec`` as text with ``out_dec`` decimals (``out_dec >= dec``)."""
    if out_dec > dec:
        units *= 10 ** (out_dec - dec)
    if out_dec <= 0:
        return str(units)
    neg = units < 0
    s = str(-units if neg else units).rjust(out_dec + 1, "0")
    text = s[:-out_dec] + "." + s[-out_dec:]
    return "-" + text if neg else text


def fmt_ratio(num: int, den: int, out_dec: int) -> str:
    """``num / den`` rounded half-up to ``out_dec`` decimals, as text (exact integer arithmetic)."""
    if den == 0:
        return fmt_units(0, 0, out_dec)
    scaled = num * 10**out_dec
    q, r = divmod(abs(scaled), abs(den))
    if 2 * r >= abs(den):
        q += 1
    if (scaled < 0) != (den < 0):
        q = -q
    return fmt_units(q, out_dec, out_dec)


def decimals_of(step_exp: int) -> int:
    """Decimals needed for 10**-step_exp (0 when the step is 1 or larger)."""
    return max(step_exp, 0)
