#!/usr/bin/env bash
# make bench: every benchmark against its peers.
set -u
cd "$(dirname "$0")/.."
bash bench/train_speed.sh
