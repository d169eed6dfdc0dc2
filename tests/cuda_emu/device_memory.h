// Device memory of the emulated device: host memory, each allocation on pages of its own with its last byte
// against a PROT_NONE guard page (and one below it), so that a kernel's access past an allocation's end faults
// at once; fresh allocations are filled with 0xFF bytes (NaN in float and double, -1 in integers), so that a
// read of memory no kernel or copy wrote shows up in the results. The capacity is that of the device named in
// driver.cpp (RLL_CUDA_EMU_MEMORY bytes overrides it), so that running out of device memory can be tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rll_emu {

// 0 when the capacity would be exceeded (CUDA_ERROR_OUT_OF_MEMORY).
std::uintptr_t device_alloc(std::size_t bytes);
bool device_free(std::uintptr_t ptr);

// Whether [ptr, ptr + bytes) lies inside one live allocation.
bool device_range(std::uintptr_t ptr, std::size_t bytes);

// Whether ptr is inside a live allocation.
bool device_pointer(std::uintptr_t ptr);

// The live allocation that contains ptr: its first byte and its size (false when none does).
bool device_allocation(std::uintptr_t ptr, std::uintptr_t* base, std::size_t* bytes);

std::size_t device_capacity();
std::size_t device_in_use();

// For a fault at `addr` in a guard page of an allocation: which allocation and how far outside it ("" if none).
std::string describe_guard_fault(std::uintptr_t addr);

}  // namespace rll_emu
