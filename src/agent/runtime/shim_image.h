// The shim executable (shim_main.cc) embedded in the minik binary, and how to run it.
//
// The build links the shim as a small static program and embeds its bytes here. Running it from a
// sealed memfd keeps minik one file: nothing is written to disk, and a shim keeps running whatever
// happens to the agent or to the minik binary on disk (the kernel holds its pages).
//
// Threading: EmbeddedShim() and OpenEmbeddedShim() are thread-safe; ExecEmbeddedShim() is for a
// single-threaded process (it replaces it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace minik::agent::runtime {

// The shim executable's bytes ("" when this build has none).
std::string_view EmbeddedShim();

// A sealed, close-on-exec memfd holding the shim executable, to be executed through
// "/proc/self/fd/<fd>" (the caller owns the fd).
StatusOr<int> OpenEmbeddedShim();

// Replaces this process with the embedded shim, run with `args` (the words after `shim`). Returns
// only on failure.
Status ExecEmbeddedShim(const std::vector<std::string>& args);

}  // namespace minik::agent::runtime
