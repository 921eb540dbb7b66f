"""Time as the exporter sees it: the injected clock and Agora's 20-second windows.

The most upstream package: everything else may import it; it imports nothing of
the exporter's.
"""
