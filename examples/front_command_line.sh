#!/usr/bin/env bash
# The README's first example: a sweep, then its diagnosis and the stored study.
# Run: bash examples/front_command_line.sh   (tests/docs/test_front_examples.py checks it is the README's block)
set -e

sweepdoctor sweep --dataset digits --trials 30 --folds 5 --epochs 20 --study digits-mlp
sweepdoctor diagnose --study digits-mlp --worst 3      # the three trials with the gravest findings
sweepdoctor studies show digits-mlp                    # best trial, parameter importance, fold spread
sweepdoctor rules overfitting                          # the rule behind a finding, its live thresholds
