"""Command modules: each adds one command or group to the gpudoctor CLI."""
