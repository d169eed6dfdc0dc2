#include <string>

#include "caffe/common.hpp"
#include "caffe/layers/rll_errors.hpp"
#include "caffe/rll/library_stamp.hpp"

namespace caffe {

static bool rll_throw_on_error = false;

void RllSetThrowOnError(bool on) { rll_throw_on_error = on; }

bool RllThrowOnError() { return rll_throw_on_error; }

const void* RllLibraryStamp() { return &RLL_LIBRARY_STAMP; }

void RllFail(const std::string& message) {
  if (rll_throw_on_error) {
    throw RllError(message);
  }
  LOG(FATAL) << message;
}

}  // namespace caffe
