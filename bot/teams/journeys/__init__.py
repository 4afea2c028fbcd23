"""One module per journey; each declares its routes (see `bot.teams.router`)."""
