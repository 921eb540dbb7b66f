"""The bytes of /metrics: rendered once per change and shared by every scraper.

With 22,000 series a scrape is 7 to 11 MB of text, and rendering it from the
collector's families takes most of a second of CPU. Nearly all of it is the
real-time section, which changes only when a poll commits or, in replay mode,
when the replay window moves on (every 20 s). So :class:`Exposition` keeps,
per negotiated format (:mod:`exporter.serving.exposition.realtime`):

* the real-time section cut into blocks of consecutive series; a commit
  renders its block again, the replay window moving on every block. That
  second case is rendered a few seconds ahead by a background thread, so no
  scrape waits for it;
* those bytes in chunks of about 256 KiB, each with its deflate stream made
  the first time a scraper asks for gzip: a commit joins again the few chunks
  its block's samples lie in, and a scrape sends the chunks as they are;
* the calls section, rendered again when the call state changes;
* everything else (insight, the exporter's own families, the process section):
  built from the collector at every scrape, encoded again only when the
  families changed. The process section (process_*, python_info) is read again
  once the scrape's clock is in another second, so memory and CPU are at most
  a second old, and it is the same reading for every rendering in that second.

Scrapes that queue while another one reads the state share its answer when
that read began after they arrived, so a crowd of scrapers costs one read.

A gzip answer is one ordinary gzip member spliced from the chunks' deflate
streams and the fresh pieces' (:mod:`exporter.serving.exposition.encoding`), so the
bulk is compressed once per change, not per scrape.

Every piece is prometheus_client's own encoding of the collector's own families
(:data:`exporter.serving.collector.SECTIONS`) cut at family boundaries, so a body is
byte for byte what an uncached render at the same instant gives. Every answer
reflects the state at an instant during its own request, so nothing is served
past a commit or a window boundary.
"""

from exporter.serving.exposition.cache import Exposition

__all__ = ["Exposition"]
