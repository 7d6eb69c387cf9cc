"""Tests of the documentation: the manual builds, its examples run, its references match the code."""
