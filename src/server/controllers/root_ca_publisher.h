// The root CA publisher (upstream pkg/controller/certificates/rootcacertpublisher): a ConfigMap
// "kube-root-ca.crt" in every namespace with data {ca.crt: the cluster CA} and the annotation
// kubernetes.io/description, restored when deleted or changed. Namespaces being terminated
// are skipped (the API server would refuse the create).
//
// Informers: namespaces, configmaps.
// Threading: the controller's thread (see controller.h).
#pragma once

#include <string>

#include "server/controllers/controller.h"

namespace minik::controllers {

inline constexpr char kRootCaConfigMapName[] = "kube-root-ca.crt";
inline constexpr char kRootCaDescriptionAnnotation[] = "kubernetes.io/description";
inline constexpr char kRootCaDescription[] =
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the "
    "internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes "
    "clusters.";

// ca_pem: the cluster CA certificate(s), PEM.
ControllerPtr NewRootCaPublisherController(Context ctx, std::string ca_pem);

}  // namespace minik::controllers
