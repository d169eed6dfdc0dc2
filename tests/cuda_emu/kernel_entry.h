// A kernel compiled for the CPU, as the emulated driver sees it: a type-erased call taking cuLaunchKernel's
// kernelParams, and its parameter list (size, pointer or not) taken from the compiled signature itself.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <vector>

namespace rll_emu {

struct Param {
  std::size_t size;
  bool pointer;
};

struct Kernel {
  void (*invoke)(void* fn, void** params);
  void* fn;
  std::vector<Param> params;
};

template <typename... A, std::size_t... I>
void call_with(void (*f)(A...), void** p, std::index_sequence<I...>) {
  f(*static_cast<A*>(p[I])...);
}

// The entry of a kernel `void name(A...)`.
template <typename... A>
Kernel entry(void (*f)(A...)) {
  return Kernel{[](void* fn, void** p) {
                  call_with(reinterpret_cast<void (*)(A...)>(fn), p, std::index_sequence_for<A...>{});
                },
                reinterpret_cast<void*>(f), {Param{sizeof(A), std::is_pointer<A>::value}...}};
}

// Which build of a family: plain, or with every load and store checked for shared-memory races (races.h).
enum class Build { plain, checked };

// Adds kernels to the process-wide registry (driver.cpp); called by the generated kernels_<family>.cpp and
// kernels_<family>_checked.cpp.
void register_kernels(std::initializer_list<std::pair<const char*, Kernel>> kernels, Build build);

struct Registrar {
  Registrar(std::initializer_list<std::pair<const char*, Kernel>> kernels, Build build) {
    register_kernels(kernels, build);
  }
};

}  // namespace rll_emu
