"""The data plane: the channel (provider and consumer sides), sealing, delivery, one-time links."""
