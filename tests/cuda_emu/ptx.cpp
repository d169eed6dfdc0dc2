#include "ptx.h"

#include <regex>
#include <sstream>

namespace rll_emu {

namespace {

std::size_t scalar_bytes(const std::string& type) {
  // .u64 .s64 .b64 .f64 / .u32 ... / .u16 ... / .u8 ...
  const std::string bits = type.substr(2);
  if (bits == "64") return 8;
  if (bits == "32") return 4;
  if (bits == "16") return 2;
  if (bits == "8") return 1;
  return 0;
}

}  // namespace

std::map<std::string, PtxEntry> parse_ptx(const std::string& text, std::string& error) {
  std::map<std::string, PtxEntry> entries;
  // Shared arrays by symbol: `.shared .align A .b8 NAME[BYTES];` (NVRTC declares them at module scope).
  std::map<std::string, std::size_t> shared;
  const std::regex shared_re(R"(\.shared\s+\.align\s+\d+\s+\.b8\s+([\w$.]+)\[(\d+)\])");
  for (std::sregex_iterator it(text.begin(), text.end(), shared_re), end; it != end; ++it)
    shared[(*it)[1]] = std::stoul((*it)[2]);
  const std::regex entry_re(R"(\.entry\s+(\w+)\s*\(([^)]*)\))");
  const std::regex param_re(R"(\.param\s+(?:\.align\s+(\d+)\s+)?(\.[usbf]\d+)\s+\w+(?:\[(\d+)\])?)");
  for (std::sregex_iterator it(text.begin(), text.end(), entry_re), end; it != end; ++it) {
    PtxEntry e;
    const std::string params = (*it)[2];
    for (std::sregex_iterator p(params.begin(), params.end(), param_re); p != end; ++p) {
      std::size_t bytes = scalar_bytes((*p)[2]);
      if ((*p)[3].matched) bytes *= std::stoul((*p)[3]);
      if (bytes == 0) {
        error = "unknown .param type " + std::string((*p)[2]) + " in " + std::string((*it)[1]);
        return {};
      }
      e.param_sizes.push_back(bytes);
    }
    // The body: from the '{' after the parameter list to its matching '}'.
    std::size_t at = text.find('{', it->position() + it->length()), depth = 0, stop = at;
    for (; stop < text.size(); ++stop) {
      if (text[stop] == '{') ++depth;
      if (text[stop] == '}' && --depth == 0) break;
    }
    const std::string body = text.substr(at, stop - at);
    e.barriers = body.find("bar.sync") != std::string::npos;
    for (const auto& [name, bytes] : shared)
      if (body.find(name) != std::string::npos) e.shared_bytes += bytes;
    entries[(*it)[1]] = e;
  }
  if (entries.empty()) error = "no .entry in the module";
  return entries;
}

}  // namespace rll_emu
