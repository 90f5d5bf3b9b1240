"""An example gpudoctor plugin."""
