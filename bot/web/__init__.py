"""The web edge: the aiohttp application, its routes and background jobs, the plan reloader, liveness."""
