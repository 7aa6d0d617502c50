"""The checkout the tests run in, for the files the tests read that are no package data:
policies/, docs/, images/, ansible/, extensions/. One constant instead of ``parents[N]`` of each
test file, which would change with the file's depth."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
