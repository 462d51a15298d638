"""The bureau's work: the case book, daily check, indicators, letters, weekly packs and exports,
early warning from other channels, background tasks and the roster."""
