"""The Teams adapter: everything that knows about the Bot Framework SDK. The bot class sets up
each turn, the router owns the rules of card forms, one module per journey turns the person's
words and clicks into use cases of `bot.application` and their results into Adaptive Cards."""
