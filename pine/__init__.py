"""Pine v6 overlays: a template and a pure renderer from level rows to Pine source."""
