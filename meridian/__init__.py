"""meridian: the command line and composition root (thin: it wires the other packages)."""
