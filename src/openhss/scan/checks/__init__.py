"""Image-level checks: rules over the image config, its history and the folded inventory."""
