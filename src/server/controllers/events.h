// Controllers record Events through client::EventRecorder (src/client/events.h).
#pragma once

#include "client/events.h"

namespace minik::controllers {

using client::EventRecorder;
using client::kEventResource;
using client::kEventTypeNormal;
using client::kEventTypeWarning;

}  // namespace minik::controllers
