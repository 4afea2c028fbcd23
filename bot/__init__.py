"""Teams conversation, HTTP application, jobs and command line: the composition root."""
