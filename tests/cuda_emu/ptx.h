// What the emulated driver reads from a PTX module: each `.entry`'s parameter list (the sizes a real driver
// reads kernelParams with) and the static shared memory its body uses.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace rll_emu {

struct PtxEntry {
  std::vector<std::size_t> param_sizes;
  std::size_t shared_bytes = 0;
  bool barriers = false;  // whether its body has a bar.sync (a __syncthreads())
};

// The entries of a PTX text by name; "" in `error` when it parsed.
std::map<std::string, PtxEntry> parse_ptx(const std::string& text, std::string& error);

}  // namespace rll_emu
