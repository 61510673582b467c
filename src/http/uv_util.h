// Small helpers shared by the libuv-based code of src/http (not part of the public API).
// Threading: loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include "common/status.h"

namespace minik::http::internal {

// Closes a heap-allocated handle (allocated with `new T`) and deletes it once libuv is done
// with it. Clears handle->data first so that no pending callback reaches a dead owner.
template <typename T>
void CloseAndDelete(T* handle) {
  if (handle == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  h->data = nullptr;
  if (uv_is_closing(h)) return;  // already on its way out; its close callback frees it
  uv_close(h, [](uv_handle_t* x) { delete reinterpret_cast<T*>(x); });
}

inline Status UvError(int rc, const std::string& what) { return Status::Internal(what + ": " + uv_strerror(rc)); }

}  // namespace minik::http::internal
