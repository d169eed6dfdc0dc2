// Kernels with planted scheduling faults, for the emulation's self-test only (emu_selftest.c declares them in a
// PTX text of its own; build.py registers them beside the cuda/ families). Never part of the engine. One block
// of 256 threads each; `out` holds 256 floats.

// Correct: every thread writes its slot, a barrier, then reads another's.
extern "C" __global__ void emu_fault_none(float* out) {
  __shared__ float s[256];
  s[threadIdx.x] = (float)threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = s[255 - threadIdx.x];
}

// The barrier between the write and the read is missing.
extern "C" __global__ void emu_fault_missing_barrier(float* out) {
  __shared__ float s[256];
  s[threadIdx.x] = (float)threadIdx.x;
  out[threadIdx.x] = s[(threadIdx.x + 1) % 256];
}

// Every thread writes one shared slot in the same interval.
extern "C" __global__ void emu_fault_write_write(float* out) {
  __shared__ float s[1];
  s[0] = (float)threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = s[0];
}

// Thread 0 never writes its slot, and thread 255 reads it.
extern "C" __global__ void emu_fault_unwritten(float* out) {
  __shared__ float s[256];
  if (threadIdx.x > 0) s[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = s[(threadIdx.x + 1) % 256];
}

// No shared memory: every thread of every block writes out[0], so the last one to run wins.
extern "C" __global__ void emu_fault_global_order(float* out) { out[0] = (float)(blockIdx.x * 256 + threadIdx.x); }
