"""The Bot Framework channel: authentication, the outgoing connector, the wire format, inbound bodies."""
