"""Pilot comparison of cheaper segmenter designs (PLAN.md); study code, not the product."""
