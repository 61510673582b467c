// The ServiceAccount controller (upstream pkg/controller/serviceaccount): a "default"
// ServiceAccount in every Active namespace, recreated when deleted; namespaces being
// terminated are left alone.
//
// Informers: namespaces, serviceaccounts.
// Threading: the controller's thread (see controller.h).
#pragma once

#include "server/controllers/controller.h"

namespace minik::controllers {

ControllerPtr NewServiceAccountController(Context ctx);

}  // namespace minik::controllers
