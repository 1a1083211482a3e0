#!/usr/bin/env bash
# Runs the crypto benchmarks and, in the same script, OpenSSL's own figures for the same
# primitives as the baseline. Output: target/crypto-bench.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/crypto-bench.txt
mkdir -p target
{
  echo "== cargo bench -p crypto ($(date -u +%FT%TZ))"
  cargo bench -p crypto --bench crypto 2>&1 | grep -E '^[a-z0-9].*/|time:|thrpt:' | grep -v '%\]'
  echo
  echo "== $(openssl version)"
  echo "== openssl speed -seconds 3 sm2"
  openssl speed -seconds 3 sm2 2>/dev/null | tail -n 3
  echo "== openssl speed -seconds 3 -bytes 64 -evp sm4-ctr"
  openssl speed -seconds 3 -bytes 64 -evp sm4-ctr 2>/dev/null | tail -n 2
  echo "== openssl speed -seconds 3 -bytes 1024 -evp sm4-ctr"
  openssl speed -seconds 3 -bytes 1024 -evp sm4-ctr 2>/dev/null | tail -n 2
  # `openssl speed` divides by the CPU time it got, criterion by the wall clock: on a loaded
  # machine the wall-clock figures (-elapsed) are the like-for-like comparison.
  echo "== openssl speed -elapsed -seconds 3 -bytes 64|1024 -evp sm4-ctr"
  openssl speed -elapsed -seconds 3 -bytes 64 -evp sm4-ctr 2>/dev/null | tail -n 1
  openssl speed -elapsed -seconds 3 -bytes 1024 -evp sm4-ctr 2>/dev/null | tail -n 1
} | tee "$out"
