#include "store/backend.h"

#include <future>

namespace minik::store {

StatusOr<KeyValue> Backend::SubmitSync(Op op) {
  std::promise<StatusOr<KeyValue>> promise;
  auto future = promise.get_future();
  Submit(std::move(op), [&promise](StatusOr<KeyValue> result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace minik::store
