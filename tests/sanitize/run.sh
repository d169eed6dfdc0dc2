#!/usr/bin/env bash
# make test-sanitize (docs/reliability.md): the C test under AddressSanitizer + UndefinedBehaviorSanitizer (clang and
# Debian's runtime) and under valgrind memcheck, and our Caffe gtests in a Caffe built with both sanitizers
# (caffe_patch/build_caffe.sh --sanitize: libcaffe, our layers and their tests instrumented; the Rust library is
# not, being Rust). Any report fails the run: the sanitizers recover from nothing, valgrind exits 9 on an error or a
# definite leak.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=target/sanitize
mkdir -p "$OUT"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step() { printf '\n=== %s\n' "$*"; }

step "C test, clang -fsanitize=address,undefined"
clang -std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -Wall -Wextra -Werror -D_DEFAULT_SOURCE -Icpp/include tests/c/abi_test.c \
  -Ltarget/release -lranked_list_loss -lm -Wl,-rpath,"$PWD/target/release" -o "$OUT/abi_test"
"$OUT/abi_test"

step "C test, valgrind memcheck"
valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  target/c/abi_test

step "Caffe with ASan + UBSan (build/caffe-asan)"
caffe_patch/build_caffe.sh --sanitize
TREE=build/caffe-asan
for t in ranked_list_loss normalization; do
  step "gtests: test_${t}_layer under ASan + UBSan"
  (cd "$TREE" && GLOG_minloglevel=2 ".temp_release/test/test_${t}_layer.testbin" --gtest_color=no | tail -3)
done
step "test-sanitize: no report"
