"""Tests of deploy/ and the Dockerfile: manifests render, the image builds and runs."""
