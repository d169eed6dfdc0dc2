#!/usr/bin/env bash
# Packs a CUDA build of the patched Caffe (caffe_patch/build_caffe.sh --cuda) for a GPU machine that has CUDA 13
# libraries but no Debian packages: caffe.bin, our two gtest binaries, libcaffe and every shared library they load
# except glibc's, libstdc++/libgcc_s and CUDA's (the machine's own), stripped, into one xz tarball.
#   tests/gpu/bundle_caffe.sh TREE OUT.tar.xz
# Layout: caffe/{tools,test,lib}, caffe/BUILD_INFO; the binaries find lib/ through their $ORIGIN/../lib runpath.
set -euo pipefail
TREE=$1
DEST=$2
R=$TREE/.temp_release
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
C=$STAGE/caffe
mkdir -p "$C/tools" "$C/test" "$C/lib"
cp "$R/tools/caffe.bin" "$C/tools/"
cp "$R/test/test_ranked_list_loss_layer.testbin" "$R/test/test_normalization_layer.testbin" "$C/test/"
cp -L "$R/lib/libcaffe.so.1.0.0-rc3" "$C/lib/"
# What the machine brings: glibc, the C++ runtime, the kernel's vDSO, and CUDA's libraries.
system='^(linux-vdso|ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libstdc\+\+|libgcc_s)\.so'
cuda='^(libcudart|libcublas|libcublasLt|libcurand)\.so'
# The check (tests/gpu/caffe_gpu_check.sh) reads the same list from the bundle.
printf '%s\n%s\n' "$system" "$cuda" >"$C/MACHINE_LIBS"
ldd "$R/tools/caffe.bin" "$R"/test/*.testbin "$R/lib/libcaffe.so" | awk '$2 == "=>" {print $1, $3}' | sort -u |
  while read -r soname path; do
    if [[ $soname =~ $system || $soname =~ $cuda ]]; then continue; fi
    [ "$path" = "not" ] && { echo "bundle_caffe: $soname not found on this machine" >&2; exit 1; }
    [ "$soname" = libcaffe.so.1.0.0-rc3 ] && continue
    cp -L "$path" "$C/lib/$soname"
  done
strip --strip-unneeded "$C"/lib/*.so* "$C"/tools/caffe.bin "$C"/test/*.testbin
# The fatbinary names its SASS targets (cuobjdump is not among the wheels).
sass=$(strings "$C/lib/libcaffe.so.1.0.0-rc3" | grep -o -- '-arch sm_[0-9]*' | cut -d' ' -f2 | sort -u | tr '\n' ' ' || true)
glibc=$(objdump -T "$C"/lib/* "$C"/tools/caffe.bin "$C"/test/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(objdump -T "$C"/lib/* "$C"/tools/caffe.bin "$C"/test/* | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
{
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) from $(git -C "$(dirname "$0")" rev-parse --short HEAD) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  grep -E '^CUDA_ARCH' "$TREE/Makefile.config"
  echo "needs from the machine: $glibc, $glibcxx, CUDA 13 (libcudart.so.13, libcublas.so.13, libcurand.so.10)"
  echo "bundled libraries: $(cd "$C/lib" && ls | tr '\n' ' ')"
} >"$C/BUILD_INFO"
[ -n "$sass" ] && echo "SASS in libcaffe: $sass" >>"$C/BUILD_INFO"
# xz -2: 18 MB in 6 s on 2 cores (-6: 16 MB in 22 s); with the repository it stays far below the 64 MiB carried.
XZ_OPT="-2 -T0" tar -cJf "$DEST" -C "$STAGE" caffe
cat "$C/BUILD_INFO"
echo "bundle_caffe: $DEST, $(du -m "$DEST" | cut -f1) MB ($(du -sm "$C" | cut -f1) MB unpacked)"
