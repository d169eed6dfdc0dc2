#ifndef CAFFE_RLL_ERRORS_HPP_
#define CAFFE_RLL_ERRORS_HPP_

// How the Ranked List Loss layers report an error: LOG(FATAL), as Caffe's own
// layers do (the caffe CLI, the gtests), or, once a host that can catch C++
// exceptions asked for it (pycaffe and matcaffe, patched by caffe_patch/apply),
// an RllError that the host turns into a Python exception or an Octave/MATLAB
// error.

#include <sstream>
#include <stdexcept>
#include <string>

namespace caffe {

/// An error of a Ranked List Loss layer; what() names the layer, the blob or
/// field, and the bad value.
class RllError : public std::runtime_error {
 public:
  explicit RllError(const std::string& message) : std::runtime_error(message) {}
};

/// Hosts that catch exceptions call this once with true; the default (false) is
/// LOG(FATAL).
void RllSetThrowOnError(bool on);
bool RllThrowOnError();

/// Reports message: throws RllError, or logs it as fatal.
void RllFail(const std::string& message);

/// The Rust library symbol named after the bridge headers caffe_patch/apply
/// copied (caffe/rll/library_stamp.hpp): referencing it, Caffe links only
/// against a library built from the same bridge.
const void* RllLibraryStamp();

}  // namespace caffe

/// Reports "<type> layer '<name>': <what>" for a layer (what may chain <<
/// operands).
#define RLL_FAIL(layer, what)                                     \
  do {                                                            \
    std::ostringstream rll_message;                               \
    rll_message << (layer).type() << " layer '"                   \
                << (layer).layer_param().name() << "': " << what; \
    ::caffe::RllFail(rll_message.str());                          \
  } while (0)

#endif  // CAFFE_RLL_ERRORS_HPP_
