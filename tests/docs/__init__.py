"""The docs match the tree: README links, sizes, architecture."""
