"""The bureau's work: the case book (``casebook``), the daily check (``daily_check``), the
dashboard (``indicators``) and the period figures it shares with the weekly packs and exports
(``figures``), letters (``letters``), weekly packs (``weekly_packs``), exports (``exports``),
early warning (``channel_imports`` then ``alerts``), printable documents (``documents``),
background tasks (``tasks``) and the roster (``roster``)."""
